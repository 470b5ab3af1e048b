"""The Redis image: redis.conf (memory cap, eviction policy, AOF), the password fetched at boot and
never baked, the unit that runs the Redis container, and (in the rootfs) redis-server started with
the provisioned config."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import time

import pytest
import redis
import rootfs as rootfs_build
from checks import free_port, parse_env, parse_unit

pytestmark = pytest.mark.role("redis")

CONF = "/etc/ocr-redis/redis.conf"
SECRETS = "/run/ocr-redis/secrets.conf"
UNIT = "/etc/systemd/system/ocr-redis.service"
REDIS_UID = 999


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            found.setdefault(key.lower(), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def conf(host):
    return directives(host.file(CONF).content_string)


def test_memory_cap_and_an_eviction_policy_that_spares_the_queue(conf):
    assert conf["maxmemory"][0][:-2].isdigit() and conf["maxmemory"][0].endswith(("mb", "gb"))
    # Queue keys carry no TTL: volatile-* evicts only cache keys, noeviction nothing.
    assert conf["maxmemory-policy"][0] in ("volatile-lru", "volatile-lfu", "volatile-ttl", "noeviction")


def test_append_only_persistence(conf):
    assert conf["appendonly"] == ["yes"]
    assert conf["appendfsync"] == ["everysec"]
    assert conf["dir"] == ["/data"]


def test_password_is_included_from_run_not_baked(host, conf):
    assert "requirepass" not in conf
    # The secrets file comes last, so no drop-in can override the password.
    assert conf["include"] == ["/etc/ocr-redis/conf.d/*.conf", SECRETS]
    assert conf["protected-mode"] == ["yes"]
    config = host.file(CONF)
    assert config.user == "root" and config.mode == 0o644
    assert host.file("/etc/ocr-redis/conf.d").is_directory
    assert not host.file("/run/ocr-redis").exists


def test_kernel_settings_redis_asks_for(host):
    assert "vm.overcommit_memory = 1" in host.file("/etc/sysctl.d/90-ocr-redis.conf").content_string
    thp = host.file("/etc/tmpfiles.d/ocr-redis-thp.conf").content_string
    assert "/sys/kernel/mm/transparent_hugepage/enabled" in thp and "never" in thp


def test_unit_runs_redis_in_its_container(host):
    service = parse_unit(host.file(UNIT).content_string)["Service"]
    assert service["Environment"] == ["REDIS_PORT=6379"]  # host port; user data may override it
    fetch = service["ExecStartPre"][0].split()
    assert fetch[1:] == [
        "--format",
        "redis-conf",
        "--owner",
        f"{REDIS_UID}:{REDIS_UID}",
        "/etc/ocr-redis/ssm-parameters",
        SECRETS,
    ]
    run = service["ExecStart"][0].split()
    assert run[:3] == ["/usr/bin/docker", "run", "--rm"]
    assert run[run.index("--user") + 1] == f"{REDIS_UID}:{REDIS_UID}"
    assert "${REDIS_PORT}:6379" in run
    assert "/etc/ocr-redis:/etc/ocr-redis:ro" in run and "/run/ocr-redis:/run/ocr-redis:ro" in run
    assert "/var/lib/ocr-redis:/data" in run
    assert run[-3:] == ["${REDIS_IMAGE}", "redis-server", CONF]
    assert parse_env(host.file("/etc/ocr-redis/image.env").content_string)["REDIS_IMAGE"]


@pytest.mark.real_instance("the Redis image is pre-pulled by the Docker daemon of the build instance")
def test_redis_container_with_the_provisioned_config(host):
    image = parse_env(host.file("/etc/ocr-redis/image.env").content_string)["REDIS_IMAGE"]
    secrets_dir = host.run("mktemp -d").stdout.strip()
    try:
        host.run(
            f"printf 'requirepass \"image-test\"\\n' > {secrets_dir}/secrets.conf && "
            f"chown -R {REDIS_UID}:{REDIS_UID} {secrets_dir}"
        )
        started = host.run(
            f"docker run -d --rm --name ocr-redis-image-test --user {REDIS_UID}:{REDIS_UID} "
            f"-v /etc/ocr-redis:/etc/ocr-redis:ro -v {secrets_dir}:/run/ocr-redis:ro "
            f"--tmpfs /data:uid={REDIS_UID} "
            f"{image} redis-server {CONF}"
        )
        assert started.rc == 0, started.stderr
        time.sleep(2)
        policy = host.run(
            "docker exec ocr-redis-image-test redis-cli -a image-test --no-auth-warning config get maxmemory-policy"
        )
        assert policy.stdout.split()[-1] in ("volatile-lru", "volatile-lfu", "volatile-ttl", "noeviction")
    finally:
        host.run("docker rm -f ocr-redis-image-test")
        host.run(f"rm -rf {secrets_dir}")


# --- redis-server inside the rootfs with the provisioned config ---------------------------------


@pytest.fixture
def redis_layout(mounted_rootfs):
    """What the unit provides the container: /run/ocr-redis (RuntimeDirectory) and an empty data
    volume at /data (redis.conf's dir), here in the rootfs; removed after the test."""
    run_dir = mounted_rootfs / SECRETS.lstrip("/")
    run_dir = run_dir.parent
    data = mounted_rootfs / "data"
    shutil.rmtree(data, ignore_errors=True)
    for path in (run_dir, data):
        path.mkdir(parents=True, exist_ok=True)
    os.chown(data, REDIS_UID, REDIS_UID)
    yield mounted_rootfs
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)  # /run is empty on a machine that has not booted


def start_redis(start_in_rootfs) -> int:
    """redis-server as uid 999 with the provisioned /etc/ocr-redis/redis.conf; returns its port."""
    port = free_port()
    proc = start_in_rootfs(
        ["redis-server", CONF, "--port", str(port), "--bind", "127.0.0.1"],
        {"PATH": rootfs_build.CHROOT_PATH},
        user=f"{REDIS_UID}:{REDIS_UID}",
    )
    proc.wait_for_port(port, timeout=20)
    return port


@pytest.fixture
def redis_in_rootfs(start_in_rootfs, redis_layout):
    """Redis with a password in the included file, as fetch-ssm-secrets writes it at boot.
    Yields (port, password, data dir on the host)."""
    password = secrets.token_urlsafe(24)
    secrets_file = redis_layout / SECRETS.lstrip("/")
    secrets_file.write_text(f'requirepass "{password}"\n')
    os.chmod(secrets_file, 0o600)
    os.chown(secrets_file, REDIS_UID, REDIS_UID)
    yield start_redis(start_in_rootfs), password, redis_layout / "data"


ROOTFS_REDIS = "starts redis-server inside the rootfs (on an instance Redis runs from the container image)"


def raw_command(port: int, *commands: str) -> list[str]:
    """First reply line of each inline command on one connection (no client-side retries)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn, conn.makefile("rb") as replies:
        answers = []
        for command in commands:
            conn.sendall(command.encode() + b"\r\n")
            answers.append(replies.readline().decode().strip())
        return answers


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_redis_requires_the_password(redis_in_rootfs):
    port, password, _ = redis_in_rootfs
    unauthenticated, wrong, right, ping = raw_command(port, "PING", "AUTH not-the-password", f"AUTH {password}", "PING")
    assert unauthenticated.startswith("-NOAUTH")
    assert wrong.startswith("-WRONGPASS")
    assert (right, ping) == ("+OK", "+PONG")


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_redis_runs_with_the_provisioned_limits_and_persistence(redis_in_rootfs):
    port, password, data = redis_in_rootfs
    client = redis.Redis(port=port, password=password, decode_responses=True)
    config = client.config_get("*")
    assert int(config["maxmemory"]) == 256 * 1024 * 1024  # rootfs.REDIS_MAXMEMORY
    assert config["maxmemory-policy"] == "volatile-lru"
    assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
    client.rpush("queue", "job-1")
    deadline = time.monotonic() + 5
    while not any((data / "appendonlydir").glob("*.aof")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(f.stat().st_size > 0 for f in (data / "appendonlydir").glob("*.incr.aof"))


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_under_memory_pressure_cache_keys_go_and_queued_jobs_stay(redis_in_rootfs):
    port, password, _ = redis_in_rootfs
    client = redis.Redis(port=port, password=password)
    used = client.info("memory")["used_memory"]
    client.config_set("maxmemory", used + 2 * 1024 * 1024)  # 2 MiB of headroom, to fill quickly
    payload = b"x" * 1024
    jobs = 0
    for i in range(600):  # the queue: no TTL, as dramatiq's messages
        client.rpush("dramatiq:default", payload + str(i).encode())
        jobs += 1
    for i in range(4000):  # the cache: every entry has a TTL; far more than fits
        client.set(f"cache:{i}", payload, ex=600)
    assert client.llen("dramatiq:default") == jobs, "a queued job was evicted"
    assert client.dbsize() - 1 < 4000, "no cache entry was evicted"
    # Once only queue keys are left, writes fail loudly instead of dropping jobs.
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for _ in range(10000):
            client.rpush("dramatiq:default", payload)


FETCH = "runs the image's fetch-ssm-secrets inside the rootfs against moto's SSM"


@pytest.mark.rootfs_only(FETCH)
def test_password_from_ssm_reaches_redis(ssm, fetch_secrets, redis_layout, start_in_rootfs):
    _, client = ssm
    password = f'p"a\\ss word {secrets.token_hex(4)}'  # quotes, a backslash, a space
    client.put_parameter(Name="/image-test/redis-password", Value=password, Type="SecureString", Overwrite=True)
    fetched = fetch_secrets(
        "REDIS_PASSWORD=/image-test/redis-password\n",
        SECRETS,
        "--format",
        "redis-conf",
        "--owner",
        f"{REDIS_UID}:{REDIS_UID}",
    )
    assert fetched.returncode == 0, fetched.stderr
    secrets_file = (redis_layout / SECRETS.lstrip("/")).stat()
    assert (secrets_file.st_mode & 0o777, secrets_file.st_uid) == (0o600, REDIS_UID)
    port = start_redis(start_in_rootfs)
    assert redis.Redis(port=port, password=password).ping()


@pytest.mark.rootfs_only(FETCH)
def test_no_password_parameter_means_no_redis(ssm, fetch_secrets, redis_layout):
    fetched = fetch_secrets("# user data has not run\n", SECRETS, "--format", "redis-conf")
    assert fetched.returncode != 0
    assert "does not start without a password" in fetched.stderr
    assert not (redis_layout / SECRETS.lstrip("/")).exists()
