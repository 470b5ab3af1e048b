"""The service's shape: layers import downwards only, the backend is an explicit choice, and the API key
is a declared security scheme that clients (and /docs) can use."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import httpx
import pytest

import ocr_service
from tests.support.servers import BIN

PACKAGE = Path(ocr_service.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the service modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("ocr_service")}


def test_the_api_imports_no_store_and_no_queue():
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in (PACKAGE / "api").rglob("*.py")
        for name in _imported_modules(path)
        if name.startswith(("ocr_service.store", "ocr_service.jobs"))
    }
    assert not offenders


def test_the_domain_imports_nothing_of_the_service():
    assert _imported_modules(PACKAGE / "domain.py") == set()


def test_the_runtime_package_holds_no_test_code():
    names = {path.stem for path in PACKAGE.rglob("*.py")}
    assert not names & {"samples", "conftest", "testing", "fixtures"}
    assert not any("pytest" in _imported_modules(path) or "import pytest" in path.read_text()
                   for path in PACKAGE.rglob("*.py"))


def _start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "REDIS_", "BACKEND"))}
    return subprocess.run([str(BIN / "ocr-service"), "serve"], env={**clean, "DATA_DIR": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("given, missing", [
    ({"MONGO_CONNECTION_STRING": "mongodb://127.0.0.1:9"}, "REDIS_HOST"),
    ({"REDIS_HOST": "127.0.0.1"}, "MONGO_CONNECTION_STRING"),
    ({"BACKEND": "production"}, "MONGO_CONNECTION_STRING and REDIS_HOST"),
])
def test_half_a_production_backend_refuses_to_start_naming_what_is_missing(tmp_path, given, missing):
    done = _start(given, tmp_path)
    assert done.returncode == 2
    assert f"set {missing}" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_backend_is_refused(tmp_path):
    done = _start({"BACKEND": "sqlite"}, tmp_path)
    assert done.returncode == 2 and "backend" in done.stderr and "Traceback" not in done.stderr


def test_the_openapi_description_declares_the_api_key_and_a_call_works_through_it(start_service):
    service = start_service("embedded", API_KEY="open-sesame-0123456789")
    with httpx.Client(base_url=service.url, timeout=30) as client:
        spec = client.get("/openapi.json").json()
        schemes = spec["components"]["securitySchemes"]
        (scheme,) = schemes.values()
        assert scheme["type"] == "apiKey" and scheme["in"] == "header"
        security = spec["paths"]["/check-status/{document_id}"]["get"]["security"]
        assert any(set(requirement) == set(schemes) for requirement in security)
        assert "security" not in spec["paths"]["/health"]["get"]

        header = {scheme["name"]: "open-sesame-0123456789"}
        assert client.get("/check-status/nothing-here", headers=header).status_code == 404
        refused = client.get("/check-status/nothing-here")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert client.get("/languages", headers={scheme["name"]: "w\u00e9rong".encode()}).status_code == 401
