# Web page area (service/ocr_service/api/ui, tests/service/test_browser*.py): its tests run inside
# `test-service`; it only adds Debian's chromium, which Playwright drives headless (Playwright's own
# browser download is never used).
EXTRA_SYSTEM_PACKAGES += chromium
