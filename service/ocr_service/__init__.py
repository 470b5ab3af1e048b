"""OCR service: upload PDFs and images, poll their status, fetch their text."""

__version__ = "0.1.0"
