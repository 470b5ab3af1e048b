# OCR service image. The install steps live in packer/scripts/install-ocr-runtime.sh, which the
# image tests (tests/images/suite) also run in a Debian bookworm rootfs; tests/images/container
# builds this file for real with buildah on a local Debian base (PYTHON_IMAGE) made from that rootfs.
#   docker build -t ocr-service .                                      eng + osd
#   docker build --build-arg TESSERACT_LANGS="deu fra" -t ocr-service .  more languages
# The base is pinned by digest, so a rebuild gets the same image until the digest is moved on
# purpose; the tag is kept beside it for the reader. The digest was copied from public code, not
# read from a registry: `make base-image-digest` checks it where one answers (docs/images.md).
# python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# Build stage: the service and its dependencies in a virtualenv, every package from the hashed
# lock file and as a wheel (no compiler). The lock is installed before the source is copied, so a
# change to the service alone reuses the dependency layer.
FROM ${PYTHON_IMAGE} AS build
COPY packer/scripts/lib.sh packer/scripts/install-ocr-runtime.sh /opt/ocr-image/scripts/
COPY requirements.lock /src/
RUN bash /opt/ocr-image/scripts/install-ocr-runtime.sh deps /src/requirements.lock
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
# runs one OCR process per core instead. The root file system may be mounted read-only: the
# service writes only to DATA_DIR (a volume) and /tmp (a tmpfs), and no .pyc files.
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
