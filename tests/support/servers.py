"""Real servers for tests and benchmarks: redis-server, a MongoDB wire server, the service under
uvicorn, each on a random loopback port, started and stopped by the caller."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class ServerProcess:
    """A real server process on a loopback port that tests can stop, kill and start again."""

    def __init__(self, name: str, command: list[str], port: int, workdir: Path, env: dict | None = None):
        self.name, self.command, self.port, self.workdir, self.env = name, command, port, workdir, env
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"{name}.log"

    def start(self, timeout: float = 30) -> ServerProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                        env=self.env, start_new_session=True)
        log.close()
        wait_until(lambda: self._ready(), timeout, message=f"{self.name} on port {self.port}")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        return _answers(self.port)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the whole group: a service's OCR processes too
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def redis_binary() -> str:
    binary = shutil.which("redis-server") or str(BIN / "redis-server")
    if not Path(binary).exists():
        raise RuntimeError("redis-server is not installed: run `make test` (it installs Debian's redis-server)")
    return binary


def start_redis(workdir: Path) -> ServerProcess:
    """A throwaway redis-server; `.stop()` / `.start()` it to simulate an outage (it comes back empty)."""
    port = free_port()
    command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(workdir)]
    return ServerProcess("redis", command, port, workdir).start()


def start_mongo(workdir: Path) -> ServerProcess:
    """MongoDB over TCP: nx-27017, a MongoDB wire-protocol server, on a random loopback port."""
    port = free_port()
    command = [str(BIN / "nx-27017"), "--data-dir", str(workdir / "data"), "--host", "127.0.0.1", "-p", str(port),
               "--pid-file", str(workdir / "nx.pid"), "--log-file", str(workdir / "nx.log")]
    return ServerProcess("mongo", command, port, workdir).start()


def mongo_uri(mongo_server) -> str:
    return os.environ.get("MONGO_TEST_URI") or f"mongodb://127.0.0.1:{mongo_server.port}"


# Shorter timings than the defaults so recovery paths finish quickly within a test.
FAST_RECOVERY = {
    "LEASE_S": "3",
    "RECONCILE_INTERVAL_S": "1",
    "REQUEUE_LOST_INTERVAL_S": "1",
    "QUEUE_HEARTBEAT_TIMEOUT_S": "5",
    "QUEUE_MAINTENANCE_CHANCE": "100000",
    "MONGO_TIMEOUT_MS": "1500",
}


def service_env(mode: str, workdir: Path, redis_server=None, mongo_server=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "REDIS_"))}
    env.update(FAST_RECOVERY)
    env.update({"DATA_DIR": str(workdir / "data"), "OCR_WORKERS": "2", "HOST": "127.0.0.1", "LOG_LEVEL": "info"})
    if mode == "production":
        env.update({"MONGO_CONNECTION_STRING": mongo_uri(mongo_server),
                    "MONGO_DB_NAME": f"ocr_{uuid.uuid4().hex[:12]}",
                    "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_server.port),
                    "ALLOW_ANONYMOUS": "true"})
    env.update(extra)
    return env


class Service(ServerProcess):
    """`ocr-service serve` (or `worker`) as a real process with a real HTTP port."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path, command: str = "serve"):
        port = free_port()
        env = {**env, "PORT": str(port)}
        args = [str(BIN / "ocr-service"), command]
        super().__init__(name, args, port if command == "serve" else 0, workdir, env)
        self.url = f"http://127.0.0.1:{port}"

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        if self.command[-1] != "serve":
            return "worker ready" in self.log()
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


class LiveService(Service):
    """A service that counts as started once it answers /health/live, whether or not its dependencies do
    (for starting one whose database is down)."""

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(self.url + "/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


class ServiceFactory:
    """start(mode, name=..., command="serve"|"worker", share=key, **env) -> a running Service.
    Services started with the same `share` key use the same database, queue and cache."""

    def __init__(self, workdir: Path, redis_server, mongo_server):
        self.workdir, self.redis_server, self.mongo_server = workdir, redis_server, mongo_server
        self.started: list[Service] = []
        self._shared_env: dict[str, dict[str, str]] = {}

    def __call__(self, mode: str, name: str = "service", command: str = "serve", share: str | None = None,
                 **extra: str) -> Service:
        if share and share in self._shared_env:
            env = {**self._shared_env[share], **extra}
        else:
            env = service_env(mode, self.workdir / (share or name), self.redis_server, self.mongo_server, **extra)
            if share:
                self._shared_env[share] = env
        service = Service(name, env, self.workdir, command)
        self.started.append(service)
        return service.start(timeout=60)

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()
