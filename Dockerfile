# OCR service image. The install steps live in packer/scripts/install-ocr-runtime.sh, which the
# image tests (tests/images/suite) also run in a Debian bookworm rootfs.
#   docker build -t ocr-service .                                      eng + osd
#   docker build --build-arg TESSERACT_LANGS="deu fra" -t ocr-service .  more languages
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: the service and its Python dependencies in a virtualenv (all wheels, no compiler).
FROM ${PYTHON_IMAGE} AS build
COPY packer/scripts/lib.sh packer/scripts/install-ocr-runtime.sh /opt/ocr-image/scripts/
COPY pyproject.toml README.md /src/
COPY service /src/service
RUN bash /opt/ocr-image/scripts/install-ocr-runtime.sh app /src

# Runtime stage: tesseract and its language data, the service user, the virtualenv.
FROM ${PYTHON_IMAGE}
ARG TESSERACT_LANGS=""
COPY packer/scripts/lib.sh packer/scripts/install-ocr-runtime.sh /opt/ocr-image/scripts/
RUN TESSERACT_LANGS="${TESSERACT_LANGS}" bash /opt/ocr-image/scripts/install-ocr-runtime.sh system
COPY --from=build /opt/ocr-service/venv /opt/ocr-service/venv

# OMP_THREAD_LIMIT=1: tesseract's OpenMP threads slow OCR down ~3x on small instances; the service
# runs one OCR process per core instead.
ENV PATH=/opt/ocr-service/venv/bin:${PATH} \
    OMP_THREAD_LIMIT=1 \
    TESSDATA_PREFIX=/usr/share/tesseract-ocr/5/tessdata \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    DATA_DIR=/var/lib/ocr-service/data

WORKDIR /var/lib/ocr-service
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["ocr-service"]
CMD ["serve"]
