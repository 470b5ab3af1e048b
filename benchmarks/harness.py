"""Shared pieces of the benchmarks: real servers on loopback ports (the test suite's helpers),
generated documents, upload-and-wait over HTTP, and process-tree memory sampling."""

from __future__ import annotations

import io
import os
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from ocr_service.config import Settings
from ocr_service.jobs.pool import OCR_NICENESS
from tests.support.servers import BIN, FAST_RECOVERY, ServerProcess, ServiceFactory, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent

CORES = len(os.sched_getaffinity(0))

# The product's default timings (lease, reconciler, queue heartbeat), read from its settings, over the
# tests' fast-recovery ones (tests.support.servers.FAST_RECOVERY): the benchmarks measure the service as shipped.
BENCH_ENV = {
    **{name: str(Settings.model_fields[name.lower()].default) for name in FAST_RECOVERY},
    "LOG_LEVEL": "warning",
}


@dataclass
class Row:
    """One line of the table: a ratio of two numbers measured side by side, and its target."""

    name: str
    measured: str  # what the service did, in words and units
    baseline: str  # what it is compared with
    ratio: float
    target: str  # e.g. ">= 1.0"
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    verdict: bool | None = None  # for a target that is not a bound on the ratio

    @property
    def passed(self) -> bool:
        if self.verdict is not None:
            return self.verdict
        op, value = self.target.split()
        return self.ratio >= float(value) if op == ">=" else self.ratio <= float(value)


# Priority of everything the benchmarks start (BENCH_NICE, root only; 0 leaves it alone). Linux groups
# processes by session ("autogroups") and shares the CPU between groups before niceness counts inside
# one; each server here starts its own session, so each gets the group priority too. On a machine
# shared with other work this keeps that work from deciding the ratios; the service's own priorities
# (OCR processes 5 below the API, inside its group) are unchanged. On an idle machine it changes nothing.
PRIORITY = int(os.environ.get("BENCH_NICE", "-19"))


def prioritise(pid: int | None = None) -> bool:
    """Give the process (and its session's group) the benchmark priority; False when not allowed."""
    try:
        if pid is None:
            os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
        Path(f"/proc/{pid or 'self'}/autogroup").write_text(str(PRIORITY))
        return True
    except OSError:  # not root, or no autogroups: measure at the normal priority
        return False


class PrioritisedFactory(ServiceFactory):
    def __call__(self, *args, **kwargs):
        service = super().__call__(*args, **kwargs)
        prioritise(service.process.pid)
        return service


class Servers:
    """redis-server and nx-27017 for production mode, started on demand, plus a ServiceFactory."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis: ServerProcess | None = None
        self.mongo: ServerProcess | None = None
        self._factories: list[ServiceFactory] = []

    def start_backends(self) -> None:
        if self.redis is None:
            redis_dir = self.workdir / "redis"
            redis_dir.mkdir(exist_ok=True)
            port = free_port()
            binary = shutil.which("redis-server") or str(BIN / "redis-server")
            self.redis = ServerProcess("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                                 "--appendonly", "no", "--dir", str(redis_dir)],
                                       port, redis_dir).start()
            prioritise(self.redis.process.pid)
        if self.mongo is None:
            mongo_dir = self.workdir / "mongo"
            mongo_dir.mkdir(exist_ok=True)
            port = free_port()
            self.mongo = ServerProcess("mongo", [str(BIN / "nx-27017"), "--data-dir", str(mongo_dir / "data"),
                                                 "--host", "127.0.0.1", "-p", str(port),
                                                 "--pid-file", str(mongo_dir / "nx.pid"),
                                                 "--log-file", str(mongo_dir / "nx.log")], port, mongo_dir).start()
            prioritise(self.mongo.process.pid)

    def factory(self, name: str) -> ServiceFactory:
        """A fresh ServiceFactory in its own folder (its services share nothing with other factories')."""
        workdir = self.workdir / name
        workdir.mkdir(exist_ok=True)
        factory = PrioritisedFactory(workdir, self.redis, self.mongo)
        self._factories.append(factory)
        return factory

    def stop(self) -> None:
        for factory in self._factories:
            factory.stop_all()
        for server in (self.redis, self.mongo):
            if server is not None:
                server.stop()


def embedded_service(servers: Servers, name: str, **env: str):
    return servers.factory(name)("embedded", name=name, **{**BENCH_ENV, "OCR_WORKERS": str(CORES), **env})


# -- documents ------------------------------------------------------------------------------------
def scanned_pdf(count: int, lines: int = 30, seed: int = 0, distinct: int | None = None,
                noise: bool = True) -> tuple[bytes, list[str]]:
    """A scanned PDF of `count` pages and its ground truth. With `distinct`, only that many different
    pages are rendered and repeated (cheap long documents; OCR does the same work per page)."""
    from tests.support import samples

    unique = [samples.sample_text(seed + i, lines=lines) for i in range(distinct or count)]
    data = samples.scanned_pdf(unique, noise=noise, seed=seed)
    truth = [unique[i % len(unique)] for i in range(count)]
    if distinct is None or distinct >= count:
        return data, truth
    import pypdfium2 as pdfium

    source, target = pdfium.PdfDocument(data), pdfium.PdfDocument.new()
    while len(target) < count:
        take = min(len(source), count - len(target))
        target.import_pages(source, list(range(take)))
    buffer = io.BytesIO()
    target.save(buffer)
    source.close(), target.close()
    return buffer.getvalue(), truth


def text_pdf(count: int, lines: int = 40, seed: int = 0) -> tuple[bytes, list[str]]:
    from tests.support import samples

    truth = [samples.sample_text(seed + i, lines=lines) for i in range(count)]
    return samples.text_pdf(truth), truth


def mean_cer(truth: list[str], texts: list[str]) -> float:
    from tests.support import samples

    return statistics.fmean(samples.cer(t, x) for t, x in zip(truth, texts, strict=True))


# -- HTTP --------------------------------------------------------------------------------------------
def submit(client: httpx.Client, data: bytes, document_id: str, filename: str = "doc.pdf", **form: str) -> dict:
    response = client.post("/extract", files={"file": (filename, data)}, data={"document_id": document_id, **form})
    if response.status_code != 202:
        raise RuntimeError(f"upload of {document_id} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def wait_finished(client: httpx.Client, document_id: str, timeout: float = 600, interval: float = 0.05) -> dict:
    def finished():
        status = client.get(f"/check-status/{document_id}").json()
        return status if status["status"] in ("completed", "failed") else None

    return wait_until(finished, timeout, interval, message=f"{document_id} to finish")


def process(client: httpx.Client, data: bytes, document_id: str, timeout: float = 600,
            **form: str) -> tuple[float, dict]:
    """Upload, wait until it is finished: (seconds from the upload's start, final status)."""
    started = time.perf_counter()
    submit(client, data, document_id, **form)
    status = wait_finished(client, document_id, timeout)
    elapsed = time.perf_counter() - started
    if status["status"] != "completed":
        raise RuntimeError(f"{document_id} ended {status['status']}: {status.get('error')}")
    return elapsed, status


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# -- memory ---------------------------------------------------------------------------------------------
class TreeRss:
    """Samples the summed RSS of a process and all its descendants in a background thread; `peak` is
    the highest sum seen. A context manager: sampling runs inside the `with` block."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.root, self.interval = psutil.Process(pid), interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        total = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # it ended between listing and reading
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRss:
        self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())


MB = 1024 * 1024


class TreeCpu:
    """CPU seconds (user + system) that a process and its descendants spend inside the `with` block;
    children that start inside the block count from zero."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.seconds = 0.0

    def _times(self) -> dict[int, float]:
        times = {}
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                cpu = process.cpu_times()
                times[process.pid] = cpu.user + cpu.system
            except psutil.Error:
                pass
        return times

    def __enter__(self) -> TreeCpu:
        self._before = self._times()
        return self

    def __exit__(self, *exc) -> None:
        after = self._times()
        self.seconds = sum(value - self._before.get(pid, 0.0) for pid, value in after.items())


def children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) descendants so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# The service's OCR processes run as background work (SCHED_IDLE, else nice OCR_NICENESS; jobs/pool.py).
# The command-line baselines run at the same priority, so that other load in the benchmark's process
# group weighs on both alike (on an idle machine it changes nothing).
OCR_PRIORITY = ["nice", "-n", str(OCR_NICENESS), "chrt", "--idle", "0"]
