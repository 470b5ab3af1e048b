# OCR pipeline area (service/ocr_service/pipeline, tests/service/test_pipeline*.py, test_quality*.py):
# its tests run inside `test-service`; it only adds a second OCR language so that '+'-joined
# languages (eng+fra) are tested for real.
EXTRA_SYSTEM_PACKAGES += tesseract-ocr-fra
