"""The Redis image: redis.conf (memory cap, eviction policy, AOF), the password fetched at boot and
never baked, the unit that runs the Redis container, and (in the rootfs) redis-server started with
the provisioned config."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time

import pytest
import redis
from checks import parse_env, parse_unit

from tests.support import rootfs as rootfs_build
from tests.support.servers import free_port

pytestmark = pytest.mark.role("redis")

CONF = "/etc/ocr-redis/redis.conf"
SECRETS = "/run/ocr-redis/secrets.conf"
TLS_DIR = "/run/ocr-redis/tls"
TLS_STATE = "/var/lib/ocr-redis-tls"
TOOLS = "/usr/local/libexec/ocr-image"
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


def test_users_are_included_from_run_not_baked(host, conf):
    assert "requirepass" not in conf and "user" not in conf and "aclfile" not in conf
    # The users file comes last, so no drop-in can loosen them.
    assert conf["include"] == ["/etc/ocr-redis/conf.d/*.conf", SECRETS]
    assert conf["protected-mode"] == ["yes"]
    config = host.file(CONF)
    assert config.user == "root" and config.mode == 0o644
    assert host.file("/etc/ocr-redis/conf.d").is_directory
    assert not host.file("/run/ocr-redis").exists


def test_tls_only_with_material_from_run(conf):
    assert conf["port"] == ["0"], "no plain-text port"
    assert conf["tls-port"] == ["6379"]
    for key, name in (("tls-cert-file", "server.crt"), ("tls-key-file", "server.key"), ("tls-ca-cert-file", "ca.crt")):
        assert conf[key] == [f"{TLS_DIR}/{name}"]
    assert conf["tls-auth-clients"] == ["no"]  # clients authenticate with their ACL user
    assert "TLSv1.1" not in conf["tls-protocols"][0] and "TLSv1.3" in conf["tls-protocols"][0]


def test_kernel_settings_redis_asks_for(host):
    assert "vm.overcommit_memory = 1" in host.file("/etc/sysctl.d/90-ocr-redis.conf").content_string
    thp = host.file("/etc/tmpfiles.d/ocr-redis-thp.conf").content_string
    assert "/sys/kernel/mm/transparent_hugepage/enabled" in thp and "never" in thp


def test_unit_runs_redis_in_its_container(host):
    service = parse_unit(host.file(UNIT).content_string)["Service"]
    assert service["Environment"][0] == "REDIS_PORT=6379"  # host port; user data may override it
    fetch, tls = (line.split() for line in service["ExecStartPre"][:2])
    assert fetch == [
        f"{TOOLS}/fetch-ssm-secrets",
        "--format",
        "redis-conf",
        "--owner",
        f"{REDIS_UID}:{REDIS_UID}",
        "/etc/ocr-redis/ssm-parameters",
        SECRETS,
    ]
    assert tls == [
        f"{TOOLS}/redis-tls-setup",
        "--owner",
        f"{REDIS_UID}:{REDIS_UID}",
        "/etc/ocr-redis/ssm-parameters",
        TLS_DIR,
        TLS_STATE,
    ]
    assert host.file(f"{TOOLS}/redis-tls-setup").mode == 0o755 and host.exists("openssl")
    run = service["ExecStart"][0].split()
    assert run[:3] == ["/usr/bin/docker", "run", "--rm"]
    assert run[run.index("--user") + 1] == f"{REDIS_UID}:{REDIS_UID}"
    assert "${REDIS_PORT}:6379" in run
    assert "/etc/ocr-redis:/etc/ocr-redis:ro" in run and "/run/ocr-redis:/run/ocr-redis:ro" in run
    assert "/var/lib/ocr-redis:/data" in run
    assert run[-3:] == ["${REDIS_IMAGE}", "redis-server", CONF]
    image_env = parse_env(host.file("/etc/ocr-redis/image.env").content_string)
    assert image_env["REDIS_IMAGE"]
    # Confined: read-only root (writes go to /data), sized /tmp, limits, no capabilities.
    assert "--read-only" in run and run[run.index("--cap-drop") + 1] == "ALL"
    assert run[run.index("--security-opt") + 1] == "no-new-privileges"
    tmpfs = run[run.index("--tmpfs") + 1]
    assert tmpfs.startswith("/tmp:") and "size=${CONTAINER_TMPFS_SIZE}" in tmpfs
    assert run[run.index("--memory") + 1] == run[run.index("--memory-swap") + 1] == "${CONTAINER_MEMORY}"
    assert run[run.index("--pids-limit") + 1] == "${CONTAINER_PIDS_LIMIT}"
    defaults = dict(item.split("=") for line in service["Environment"] for item in line.split())
    assert int(defaults["CONTAINER_PIDS_LIMIT"]) > 0 and defaults["CONTAINER_TMPFS_SIZE"].endswith("m")
    # Room for maxmemory twice (an AOF rewrite forks) and the server itself.
    maxmemory_mb = int(rootfs_build.REDIS_MAXMEMORY.removesuffix("mb"))
    assert image_env["CONTAINER_MEMORY"] == f"{2 * maxmemory_mb + 256}m"


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


# --- redis-server inside the rootfs with the provisioned config, users and TLS ---------------------
# The users and the TLS material come from the image's own tools (fetch-ssm-secrets against moto's
# SSM, redis-tls-setup), run in the rootfs as the unit's ExecStartPre lines run them.

SERVICE_USER = "ocr"  # fetch-ssm-secrets' default REDIS_USERNAME
ADMIN = ("image-test-admin", secrets.token_urlsafe(16))  # the harness's own user, to read the config


@pytest.fixture
def redis_layout(mounted_rootfs):
    """What the unit provides the container: /run/ocr-redis (RuntimeDirectory) and an empty data
    volume at /data (redis.conf's dir), here in the rootfs; removed after the test."""
    run_dir = (mounted_rootfs / SECRETS.lstrip("/")).parent
    data = mounted_rootfs / "data"
    for path in (data, run_dir, mounted_rootfs / TLS_STATE.lstrip("/")):
        shutil.rmtree(path, ignore_errors=True)
    for path in (run_dir, data):
        path.mkdir(parents=True, exist_ok=True)
    os.chown(data, REDIS_UID, REDIS_UID)
    yield mounted_rootfs
    for path in (data, run_dir, mounted_rootfs / TLS_STATE.lstrip("/")):
        shutil.rmtree(path, ignore_errors=True)  # /run is empty on a machine that has not booted


def in_rootfs(root, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chroot", str(root), "env", "-i", f"PATH={rootfs_build.CHROOT_PATH}", *argv], capture_output=True, text=True
    )


def tls_setup(root, parameters: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """redis-tls-setup as the unit runs it; `parameters` is the ssm-parameters file's text, `env`
    what the unit's environment files add (service.env: REDIS_TLS_CA_PARAMETER, AWS_REGION)."""
    (root / "tmp/fetch-test").mkdir(exist_ok=True)
    (root / "tmp/fetch-test/ssm-parameters").write_text(parameters)
    return in_rootfs(
        root, *(f"{k}={v}" for k, v in (env or {}).items()), f"{TOOLS}/redis-tls-setup",
        "--owner", f"{REDIS_UID}:{REDIS_UID}", "/tmp/fetch-test/ssm-parameters", TLS_DIR, TLS_STATE,
    )


PUBLISHED_CA = "/image-test/redis-tls-ca"


def publishing(endpoint: str) -> dict[str, str]:
    """The environment under which redis-tls-setup publishes the CA to moto's SSM: what user data's
    service.env gives the unit, and credentials (the instance role's, on an instance)."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "SSM_ENDPOINT_URL": endpoint, "REDIS_TLS_CA_PARAMETER": PUBLISHED_CA}


def start_redis(start_in_rootfs) -> int:
    """redis-server as uid 999 with the provisioned /etc/ocr-redis/redis.conf on a free TLS port
    (plus the harness's admin user); returns the port."""
    port = free_port()
    proc = start_in_rootfs(
        ["redis-server", CONF, "--tls-port", str(port), "--port", "0", "--bind", "127.0.0.1",
         "--user", ADMIN[0], "on", f">{ADMIN[1]}", "~*", "&*", "+@all"],
        {"PATH": rootfs_build.CHROOT_PATH},
        user=f"{REDIS_UID}:{REDIS_UID}",
    )
    proc.wait_for_port(port, timeout=20)
    return port


def client(port: int, root, user: str | None = SERVICE_USER, password: str | None = None, **options) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=port, username=user, password=password, ssl=True,
        ssl_ca_certs=str(root / TLS_DIR.lstrip("/") / "ca.crt"), ssl_cert_reqs="required", socket_timeout=5,
        **options,
    )


@pytest.fixture
def redis_in_rootfs(ssm, fetch_secrets, start_in_rootfs, redis_layout):
    """Redis as ocr-redis.service starts it: the users from a password in SSM, TLS material made
    at first boot. Yields (port, password, rootfs)."""
    _, ssm_client = ssm
    password = secrets.token_urlsafe(24)
    ssm_client.put_parameter(Name="/image-test/redis-password", Value=password, Type="SecureString", Overwrite=True)
    fetched = fetch_secrets(
        "REDIS_PASSWORD=/image-test/redis-password\n", SECRETS,
        "--format", "redis-conf", "--owner", f"{REDIS_UID}:{REDIS_UID}",
    )
    assert fetched.returncode == 0, fetched.stderr
    made = tls_setup(redis_layout)
    assert made.returncode == 0, made.stderr
    yield start_redis(start_in_rootfs), password, redis_layout


ROOTFS_REDIS = "starts redis-server inside the rootfs (on an instance Redis runs from the container image)"


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_users_file_holds_no_password(redis_in_rootfs):
    _, password, root = redis_in_rootfs
    users = (root / SECRETS.lstrip("/")).read_text()
    assert password not in users
    assert users.splitlines()[0].startswith("user default off ")
    stat = (root / SECRETS.lstrip("/")).stat()
    assert (stat.st_mode & 0o777, stat.st_uid) == (0o600, REDIS_UID)


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_tls_handshake_verifies_and_plain_text_is_refused(redis_in_rootfs):
    port, password, root = redis_in_rootfs
    with client(port, root, password=password) as tls:
        assert tls.ping()
        assert tls.connection_pool.get_connection().__class__.__name__ == "SSLConnection"
    # A client that does not trust the server's CA gets no connection.
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port, username=SERVICE_USER, password=password, ssl=True,
                    ssl_cert_reqs="required", ssl_ca_certs=certifi_bundle(), socket_timeout=5).ping()
    # Plain text on the TLS port: no Redis reply.
    with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        redis.Redis(host="127.0.0.1", port=port, username=SERVICE_USER, password=password, socket_timeout=3).ping()


def certifi_bundle() -> str:
    return "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_default_user_is_refused(redis_in_rootfs):
    port, password, root = redis_in_rootfs
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(port, root, user=None, password=None).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(port, root, user=None, password=password).ping()  # AUTH <password> is the default user's
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(port, root, password="not-the-password").ping()


@pytest.mark.rootfs_only(ROOTFS_REDIS)
@pytest.mark.parametrize(
    "command",
    [("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendonly", "no"), ("KEYS", "*"),
     ("SHUTDOWN", "NOSAVE"), ("ACL", "LIST"), ("MONITOR",), ("PUBLISH", "c", "m"), ("SUBSCRIBE", "c"),
     ("REPLICAOF", "127.0.0.1", "1"), ("BGSAVE",), ("INFO",), ("CLIENT", "KILL", "ID", "1")],
    ids=lambda c: " ".join(c[:2]),
)
def test_service_user_may_not_run_dangerous_commands(redis_in_rootfs, command):
    port, password, root = redis_in_rootfs
    with client(port, root, password=password) as service:
        service.set("survivor", "1")
        with pytest.raises(redis.exceptions.ResponseError) as refused:
            service.execute_command(*command)
        assert "NOPERM" in str(refused.value) or "no permissions" in str(refused.value), refused.value
        assert service.get("survivor") == b"1"


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_dramatiq_queue_and_cache_work_under_the_service_user(redis_in_rootfs):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    port, password, root = redis_in_rootfs
    service = client(port, root, password=password)
    service.set("ocr:cache:key", b"value", ex=60)
    assert service.get("ocr:cache:key") == b"value" and 0 < service.ttl("ocr:cache:key") <= 60
    broker = RedisBroker(client=service)
    done: list[int] = []

    @dramatiq.actor(broker=broker, max_retries=0, queue_name="image-test")
    def record(number: int) -> None:
        done.append(number)

    for number in range(5):
        record.send(number)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while len(done) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
        broker.close()
    assert sorted(done) == list(range(5))


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_redis_runs_with_the_provisioned_limits_and_persistence(redis_in_rootfs):
    port, password, root = redis_in_rootfs
    admin = client(port, root, user=ADMIN[0], password=ADMIN[1], decode_responses=True)
    config = admin.config_get("*")
    assert int(config["maxmemory"]) == 256 * 1024 * 1024  # rootfs.REDIS_MAXMEMORY
    assert config["maxmemory-policy"] == "volatile-lru"
    assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
    client(port, root, password=password).rpush("queue", "job-1")
    data = root / "data"
    deadline = time.monotonic() + 5
    while not any((data / "appendonlydir").glob("*.aof")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(f.stat().st_size > 0 for f in (data / "appendonlydir").glob("*.incr.aof"))


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_under_memory_pressure_cache_keys_go_and_queued_jobs_stay(redis_in_rootfs):
    port, password, root = redis_in_rootfs
    admin = client(port, root, user=ADMIN[0], password=ADMIN[1])
    service = client(port, root, password=password)
    used = admin.info("memory")["used_memory"]
    admin.config_set("maxmemory", used + 2 * 1024 * 1024)  # 2 MiB of headroom, to fill quickly
    payload = b"x" * 1024
    pipe = service.pipeline(transaction=False)
    for i in range(600):  # the queue: no TTL, as dramatiq's messages
        pipe.rpush("dramatiq:default", payload + str(i).encode())
    pipe.execute()
    for start in range(0, 4000, 500):  # the cache: every entry has a TTL; far more than fits
        pipe = service.pipeline(transaction=False)
        for i in range(start, start + 500):
            pipe.set(f"cache:{i}", payload, ex=600)
        pipe.execute()
    assert service.llen("dramatiq:default") == 600, "a queued job was evicted"
    assert service.dbsize() - 1 < 4000, "no cache entry was evicted"
    # Once only queue keys are left, writes fail loudly instead of dropping jobs.
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for _ in range(10000):
            service.rpush("dramatiq:default", payload)


FETCH = "runs the image's fetch-ssm-secrets inside the rootfs against moto's SSM"


@pytest.mark.rootfs_only(FETCH)
def test_password_from_ssm_reaches_redis(ssm, fetch_secrets, redis_layout, start_in_rootfs):
    _, ssm_client = ssm
    password = f'p"a\\ss word {secrets.token_hex(4)}'  # quotes, a backslash, a space
    ssm_client.put_parameter(Name="/image-test/redis-password", Value=password, Type="SecureString", Overwrite=True)
    fetched = fetch_secrets(
        "REDIS_PASSWORD=/image-test/redis-password\n", SECRETS,
        "--format", "redis-conf", "--owner", f"{REDIS_UID}:{REDIS_UID}",
    )
    assert fetched.returncode == 0, fetched.stderr
    assert tls_setup(redis_layout).returncode == 0
    port = start_redis(start_in_rootfs)
    assert client(port, redis_layout, password=password).ping()


@pytest.mark.rootfs_only(FETCH)
def test_no_password_parameter_means_no_redis(ssm, fetch_secrets, redis_layout):
    fetched = fetch_secrets("# user data has not run\n", SECRETS, "--format", "redis-conf")
    assert fetched.returncode != 0
    assert "does not start without a password" in fetched.stderr
    assert not (redis_layout / SECRETS.lstrip("/")).exists()


@pytest.mark.rootfs_only(ROOTFS_REDIS)
def test_first_boot_certificate_is_made_once_and_kept(redis_layout):
    assert tls_setup(redis_layout).returncode == 0
    state = redis_layout / TLS_STATE.lstrip("/")
    first = (state / "server.crt").read_bytes()
    assert (state.stat().st_mode & 0o777) == 0o700 and (state / "ca.key").stat().st_mode & 0o077 == 0
    shutil.rmtree(redis_layout / TLS_DIR.lstrip("/"))  # a reboot empties /run
    assert tls_setup(redis_layout).returncode == 0
    out = redis_layout / TLS_DIR.lstrip("/")
    assert (out / "server.crt").read_bytes() == first
    key = (out / "server.key").stat()
    assert (key.st_mode & 0o777, key.st_uid) == (0o600, REDIS_UID)
    verified = in_rootfs(redis_layout, "openssl", "verify", "-CAfile", f"{TLS_DIR}/ca.crt", f"{TLS_DIR}/server.crt")
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.rootfs_only(FETCH)
def test_certificates_from_ssm_are_served(ssm, fetch_secrets, redis_layout, start_in_rootfs, tmp_path):
    """The deployment's own CA and certificate, from SSM: Redis serves them, a client trusting that
    CA verifies the server, and nothing is generated."""
    _, ssm_client = ssm
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=deployment CA", "-keyout", tmp_path / "ca.key", "-out", tmp_path / "ca.crt"],
        check=True, capture_output=True,
    )
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=redis", "-keyout", tmp_path / "server.key", "-out", tmp_path / "server.csr"],
        check=True, capture_output=True,
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", tmp_path / "server.csr", "-CA", tmp_path / "ca.crt", "-CAkey",
         tmp_path / "ca.key", "-CAcreateserial", "-days", "2", "-extfile", tmp_path / "ext", "-out",
         tmp_path / "server.crt"],
        check=True, capture_output=True,
    )
    parameters = "REDIS_PASSWORD=/image-test/redis-password\n"
    files = {"REDIS_TLS_CERT": "server.crt", "REDIS_TLS_KEY": "server.key", "REDIS_TLS_CA": "ca.crt"}
    for variable, name in files.items():
        value = (tmp_path / name).read_text()
        ssm_client.put_parameter(Name=f"/image-test/{name}", Value=value, Type="SecureString", Overwrite=True)
        parameters += f"{variable}=/image-test/{name}\n"
    password = secrets.token_urlsafe(12)
    ssm_client.put_parameter(Name="/image-test/redis-password", Value=password, Type="SecureString", Overwrite=True)
    users = fetch_secrets(parameters, SECRETS, "--format", "redis-conf", "--owner", f"{REDIS_UID}:{REDIS_UID}")
    assert users.returncode == 0, users.stderr
    endpoint, _ = ssm
    ssm_client.put_parameter(Name=PUBLISHED_CA, Value="pending", Type="String", Overwrite=True)
    made = tls_setup(redis_layout, parameters, env=publishing(endpoint))
    assert made.returncode == 0, made.stderr
    assert not (redis_layout / TLS_STATE.lstrip("/")).exists(), "generated although SSM named certificates"
    # The clients get the deployment's CA through the published parameter, as with a first-boot one.
    published = ssm_client.get_parameter(Name=PUBLISHED_CA)["Parameter"]["Value"]
    assert published.strip() == (tmp_path / "ca.crt").read_text().strip()
    port = start_redis(start_in_rootfs)
    trusted = redis.Redis(host="127.0.0.1", port=port, username=SERVICE_USER, password=password, ssl=True,
                          ssl_cert_reqs="required", ssl_ca_certs=str(tmp_path / "ca.crt"), socket_timeout=5)
    assert trusted.ping()


@pytest.mark.rootfs_only(FETCH)
def test_first_boot_ca_is_published_once_and_verifies_redis(ssm, fetch_secrets, redis_layout, start_in_rootfs,
                                                            tmp_path):
    """The CA made at first boot goes to the String parameter user data names (over the placeholder
    Terraform created); a restart or a reboot writes no new version; a client that holds nothing but
    the published value verifies the server."""
    endpoint, ssm_client = ssm
    ssm_client.put_parameter(Name=PUBLISHED_CA, Value="pending: placeholder", Type="String", Overwrite=True)
    password = secrets.token_urlsafe(12)
    ssm_client.put_parameter(Name="/image-test/redis-password", Value=password, Type="SecureString", Overwrite=True)
    users = fetch_secrets("REDIS_PASSWORD=/image-test/redis-password\n", SECRETS, "--format", "redis-conf",
                          "--owner", f"{REDIS_UID}:{REDIS_UID}")
    assert users.returncode == 0, users.stderr
    made = tls_setup(redis_layout, env=publishing(endpoint))
    assert made.returncode == 0, made.stderr
    published = ssm_client.get_parameter(Name=PUBLISHED_CA)["Parameter"]
    assert published["Value"].strip() == (redis_layout / TLS_DIR.lstrip("/") / "ca.crt").read_text().strip()
    assert published["Type"] == "String" and "PRIVATE KEY" not in published["Value"]
    shutil.rmtree(redis_layout / TLS_DIR.lstrip("/"))  # a reboot empties /run
    again = tls_setup(redis_layout, env=publishing(endpoint))
    assert again.returncode == 0, again.stderr
    assert ssm_client.get_parameter(Name=PUBLISHED_CA)["Parameter"]["Version"] == published["Version"]
    (tmp_path / "published-ca.pem").write_text(published["Value"])
    port = start_redis(start_in_rootfs)
    verified = redis.Redis(host="127.0.0.1", port=port, username=SERVICE_USER, password=password, ssl=True,
                           ssl_cert_reqs="required", ssl_ca_certs=str(tmp_path / "published-ca.pem"),
                           socket_timeout=5)
    assert verified.ping()


@pytest.mark.rootfs_only(FETCH)
def test_a_ca_that_cannot_be_published_fails_the_start(redis_layout):
    """Without the published CA no client can verify Redis: the unit fails and systemd retries."""
    unreachable = publishing(f"http://127.0.0.1:{free_port()}") | {"AWS_MAX_ATTEMPTS": "1"}
    made = tls_setup(redis_layout, env=unreachable)
    assert made.returncode != 0
    assert "published" not in made.stderr
