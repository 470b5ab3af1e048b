"""Checks every image must pass: Docker, the CloudWatch agent and its config, the boot-time
secret fetch, log rotation, and provisioning that can run twice."""

from __future__ import annotations

import json

import pytest
from checks import parse_env, parse_unit, snapshot

from tests.support import rootfs as rootfs_build

AGENT_DIR = "/opt/aws/amazon-cloudwatch-agent"
AGENT_CONFIG = f"{AGENT_DIR}/etc/amazon-cloudwatch-agent.json"
DOCKER_LOGS = "/var/lib/docker/containers/*/*-json.log"
# The unit each image runs, and where it appends the container's output (the app log).
MAIN_UNIT = {"ocr": "ocr-service", "redis": "ocr-redis"}
FETCH_SECRETS = "/usr/local/libexec/ocr-image/fetch-ssm-secrets"
# Per image: settings directory, data directory and the uid its container runs as, log directory.
LAYOUT = {
    "ocr": {"etc": "/etc/ocr-service", "data": "/var/lib/ocr-service", "uid": 10001, "logs": "/var/log/ocr-service"},
    "redis": {"etc": "/etc/ocr-redis", "data": "/var/lib/ocr-redis", "uid": 999, "logs": "/var/log/ocr-redis"},
}


def test_release_file_names_the_image(host, image_role):
    release = parse_env(host.file("/etc/ocr-image/release").content_string)
    assert release["IMAGE_ROLE"] == image_role, "the suite runs against the other image"
    assert release["IMAGE_VERSION"]


def test_data_and_log_directories(host, image_role):
    layout = LAYOUT[image_role]
    data = host.file(layout["data"])
    assert data.is_directory and data.mode == 0o750
    assert (data.uid, data.gid) == (layout["uid"], layout["uid"]), "owned by the container's user"
    logs = host.file(layout["logs"])
    assert logs.is_directory and logs.user == "root" and logs.mode == 0o750


def test_user_data_files_are_in_place_and_empty(host, image_role):
    """User data (modules/asg, modules/redis) writes service.env and ssm-parameters; the image ships
    them empty, so the unit and `docker run --env-file` find them on an instance started without."""
    for name in ("service.env", "ssm-parameters"):
        file = host.file(f"{LAYOUT[image_role]['etc']}/{name}")
        assert file.is_file and file.user == "root" and file.mode == 0o644
        assert parse_env(file.content_string) == {}, name


def test_docker_engine_installed_and_enabled(host, debian):
    assert host.package("docker.io" if debian else "docker").is_installed
    assert host.service("docker").is_enabled


def test_docker_writes_rotated_json_logs_for_the_agent(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-driver"] == "json-file"
    assert config["log-opts"]["max-size"].endswith("m")
    assert int(config["log-opts"]["max-file"]) >= 2
    assert config["live-restore"] is True


@pytest.fixture(scope="module")
def agent_config(host):
    return json.loads(host.file(AGENT_CONFIG).content_string)


def test_agent_config_collects_cpu_memory_and_disk(agent_config):
    collected = agent_config["metrics"]["metrics_collected"]
    assert "cpu_usage_active" in collected["cpu"]["measurement"]
    assert "mem_used_percent" in collected["mem"]["measurement"]
    assert "used_percent" in collected["disk"]["measurement"]
    assert "/" in collected["disk"]["resources"]
    assert agent_config["metrics"]["append_dimensions"]["InstanceId"] == "${aws:InstanceId}"


def test_agent_config_ships_the_app_log_and_container_logs(host, agent_config, image_role):
    files = agent_config["logs"]["logs_collected"]["files"]["collect_list"]
    paths = {entry["file_path"]: entry for entry in files}
    assert DOCKER_LOGS in paths
    # The app log is where the unit appends the container's output.
    unit = parse_unit(host.file(f"/etc/systemd/system/{MAIN_UNIT[image_role]}.service").content_string)
    app_log = unit["Service"]["StandardOutput"][0].removeprefix("append:")
    assert app_log in paths
    assert all(entry["log_group_name"].startswith("/ocr-service/") for entry in files)
    # Reading /var/lib/docker/containers needs root.
    assert agent_config["agent"]["run_as_user"] == "root"


@pytest.mark.role("ocr")
def test_agent_scrapes_the_service_metrics_into_the_scaling_namespace(host, agent_config):
    """ocr_queue_depth, ocr_queue_oldest_age_seconds and ocr_documents_finished_total reach the
    OCRService namespace with the dimensions the asg and monitoring modules alarm and scale on."""
    import yaml

    prometheus = agent_config["logs"]["metrics_collected"]["prometheus"]
    emf = prometheus["emf_processor"]
    assert emf["metric_namespace"] == "OCRService"
    declared = {}
    for declaration in emf["metric_declaration"]:
        assert declaration["source_labels"] == ["job"] and declaration["label_matcher"] == "^ocr-service$"
        for selector in declaration["metric_selectors"]:
            declared[selector.strip("^$")] = declaration["dimensions"]
    assert declared["ocr_queue_depth"] == declared["ocr_queue_oldest_age_seconds"] == [["AutoScalingGroupName"]]
    assert declared["ocr_documents_finished_total"] == [["AutoScalingGroupName", "status"]]
    assert prometheus["log_group_name"].startswith("/ocr-service/")
    scrape = yaml.safe_load(host.file(prometheus["prometheus_config_path"]).content_string)
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == "ocr-service" and job["metrics_path"] == "/metrics"
    (targets_file,) = job["file_sd_configs"][0]["files"]
    unit = parse_unit(host.file("/etc/systemd/system/ocr-service.service").content_string)
    assert any(targets_file in line for line in unit["Service"]["ExecStartPre"])


@pytest.mark.role("ocr")
def test_service_log_lines_are_read_with_their_json_timestamp(agent_config):
    (service_log,) = [
        entry
        for entry in agent_config["logs"]["logs_collected"]["files"]["collect_list"]
        if entry["file_path"] == "/var/log/ocr-service/service.log"
    ]
    # structlog's ISO timestamps ("timestamp": "2025-01-31T12:00:00.123456Z"), in UTC.
    assert service_log["timestamp_format"] == "%Y-%m-%dT%H:%M:%S" and service_log["timezone"] == "UTC"


def test_agent_unit_enabled(host):
    units = [
        "/etc/systemd/system/amazon-cloudwatch-agent.service",
        "/usr/lib/systemd/system/amazon-cloudwatch-agent.service",
    ]
    assert any(host.file(path).exists for path in units)
    assert host.service("amazon-cloudwatch-agent").is_enabled


@pytest.mark.real_instance("Amazon's agent package comes from Amazon's repository, absent on Debian")
def test_agent_binary_installed_and_config_translated(host):
    assert host.package("amazon-cloudwatch-agent").is_installed
    assert host.file(f"{AGENT_DIR}/bin/amazon-cloudwatch-agent").is_file
    # fetch-config at build time turned the JSON into the agent's TOML.
    assert host.file(f"{AGENT_DIR}/etc/amazon-cloudwatch-agent.toml").is_file
    assert host.run("systemd-analyze verify amazon-cloudwatch-agent.service").rc == 0


@pytest.mark.real_instance("no Docker daemon runs in a chroot")
def test_docker_daemon_running(host):
    assert host.service("docker").is_running
    assert host.run("docker info --format '{{.LoggingDriver}}'").stdout.strip() == "json-file"


def test_secret_fetch_tool_and_its_dependencies(host):
    tool = host.file(FETCH_SECRETS)
    assert tool.is_file and tool.user == "root" and tool.mode == 0o755
    assert host.exists("aws") and host.exists("curl")


def test_unit_fetches_secrets_before_starting_and_restarts(host, image_role):
    unit = parse_unit(host.file(f"/etc/systemd/system/{MAIN_UNIT[image_role]}.service").content_string)
    service = unit["Service"]
    assert service["ExecStartPre"][0].split()[0] == FETCH_SECRETS
    assert service["Restart"] == ["always"]
    assert "docker.service" in unit["Unit"]["Requires"][0].split()
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert host.service(MAIN_UNIT[image_role]).is_enabled


def test_unit_passes_systemd_verification(host, image_role):
    unit = f"/etc/systemd/system/{MAIN_UNIT[image_role]}.service"
    result = host.run(f"systemd-analyze verify {unit}")
    assert result.rc == 0, result.stderr
    # Warnings (unknown keys, bad values) leave rc 0: none may name our unit.
    assert MAIN_UNIT[image_role] not in result.stderr, result.stderr


def test_unit_logs_are_rotated(host, image_role):
    unit = parse_unit(host.file(f"/etc/systemd/system/{MAIN_UNIT[image_role]}.service").content_string)
    app_log = unit["Service"]["StandardOutput"][0].removeprefix("append:")
    rotated = host.file("/etc/logrotate.d/ocr-image").content_string
    log_dir = app_log.rsplit("/", 1)[0]
    assert f"{log_dir}/*.log" in rotated and "copytruncate" in rotated
    assert host.exists("logrotate")


# What provisioning writes, compared before and after a second run.
SNAPSHOT_TREES = ["/etc", "/usr/local", "/opt/aws"]
SNAPSHOT_ENTRIES = [
    "/var/lib/ocr-service",
    "/var/log/ocr-service",
    "/opt/ocr-service",
    "/var/lib/ocr-redis",
    "/var/log/ocr-redis",
]


@pytest.mark.rootfs_only("re-runs the provisioning scripts inside the rootfs")
def test_provisioning_twice_changes_nothing(mounted_rootfs, image_role):
    before = snapshot(mounted_rootfs, SNAPSHOT_TREES, SNAPSHOT_ENTRIES)
    rootfs_build.provision(mounted_rootfs, image_role)
    after = snapshot(mounted_rootfs, SNAPSHOT_TREES, SNAPSHOT_ENTRIES)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    assert not changed, f"a second provisioning run changed: {changed}"


FETCH = "runs the image's fetch-ssm-secrets inside the rootfs against moto's SSM"


@pytest.mark.rootfs_only(FETCH)
def test_secret_fetch_writes_ssm_values_privately(ssm, fetch_secrets, mounted_rootfs):
    _, client = ssm
    values = {
        "MONGO_CONNECTION_STRING": "mongodb://ocr:p@ss=w0rd@db.internal:27017/ocr?tls=true",
        "REDIS_PASSWORD": "s3cret with spaces",
    }
    for key, value in values.items():
        client.put_parameter(Name=f"/image-test/{key}", Value=value, Type="SecureString", Overwrite=True)
    parameters = "# VARIABLE=parameter\n" + "".join(f"{key}=/image-test/{key}\n" for key in values)
    fetched = fetch_secrets(parameters, "/tmp/fetch-test/secrets.env")
    assert fetched.returncode == 0, fetched.stderr
    out = mounted_rootfs / "tmp/fetch-test/secrets.env"
    assert parse_env(out.read_text()) == values
    assert (out.stat().st_mode & 0o777, out.stat().st_uid) == (0o600, 0)


@pytest.mark.rootfs_only(FETCH)
def test_secret_fetch_fails_on_a_missing_parameter_and_writes_nothing(ssm, fetch_secrets, mounted_rootfs):
    fetched = fetch_secrets("MONGO_CONNECTION_STRING=/image-test/does-not-exist\n", "/tmp/fetch-test/secrets.env")
    assert fetched.returncode != 0
    assert "ParameterNotFound" in fetched.stderr
    assert sorted(p.name for p in (mounted_rootfs / "tmp/fetch-test").iterdir()) == ["ssm-parameters"]
