# OCR pipeline area (service/ocr_service/pipeline, tests/service/test_pipeline*.py, test_quality*.py):
# its tests run inside `test-service`; it adds French and German so that '+'-joined languages
# (eng+fra) and language=auto (English, French and German scans) are tested for real.
EXTRA_SYSTEM_PACKAGES += tesseract-ocr-fra tesseract-ocr-deu
