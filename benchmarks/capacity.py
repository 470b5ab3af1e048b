"""Capacity planning for the OCR service on EC2: from the measured throughput (pages per second per
core), the instances and the cost per 1,000 pages a steady load needs within a latency target, and a
discrete-event simulation of a burst through the backlog scaling policy of modules/asg.

    .venv/bin/python -m benchmarks.capacity                      # throughput from results/latest.json
    .venv/bin/python -m benchmarks.capacity --pages-per-core-s 1.1 --load 50000 --latency 60
    .venv/bin/python -m benchmarks.capacity --burst-pages 100000 --max-size 20 --warmup 300

The model (every input is a flag; the defaults are documented assumptions, not measurements):
- One OCR engine per vCPU, each reading `pages_per_core_s` pages a second, pages independent (the
  service spreads a document's pages over its engines). An instance of `vcpus` vCPUs reads
  `vcpus * pages_per_core_s` pages a second. Hyper-threads are counted as cores: if a vCPU of the
  instance type gives less than a core of the measuring machine, lower `--pages-per-core-s`.
- Steady load: pages arrive at random (Poisson) at `load` pages an hour; a page's latency is its
  queue wait plus its reading. The instances needed are the fewest whose 95th-percentile latency
  (Erlang C, M/M/c with one server per engine) meets the target. Cost per 1,000 pages is the
  instances' hourly price over the pages they read in that hour; the floor is that of a fully busy
  instance.
- Burst: pages arrive evenly over `burst_seconds`; the policy samples the queue (documents waiting,
  as ocr_queue_depth does) every metric period, acts on a datapoint `metric_delay` s old once
  `scale_out_periods` consecutive datapoints breach the target (`scale_in_periods` below it to scale
  in, at most once per `cooldown`), asks for ceil(backlog / target) instances between min and max
  size, and a launched instance reads pages after `warmup` s. Instances leaving finish the pages they
  hold. Instance-hours count from launch to leaving.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# Assumed instance: c7i.large (2 vCPUs), Linux on-demand in us-east-1 (USD an hour, AWS's price list).
# Prices change: pass --price (and --vcpus) for the instance type and region in use.
DEFAULT_INSTANCE = "c7i.large"
DEFAULT_VCPUS = 2
DEFAULT_PRICE = 0.08925
# AWS Textract DetectDocumentText, USD per 1,000 pages for the first million pages a month in us-east-1
# (https://aws.amazon.com/textract/pricing/): the managed service this one is compared with.
TEXTRACT_PER_1000 = 1.50


# ---------------------------------------------------------------------------------------------------
# Steady load: instances and cost
# ---------------------------------------------------------------------------------------------------
def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with `servers` servers and offered load
    `offered` = arrival rate / service rate (< servers), by the Erlang B recursion (stable for large c)."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return servers * blocking / (servers - offered * (1 - blocking))


def wait_quantile(servers: int, arrival_rate: float, service_rate: float, quantile: float = 0.95) -> float:
    """The `quantile` of the queue wait (s) in M/M/c: P(W > t) = C * exp(-(c*mu - lambda) t)."""
    if arrival_rate <= 0:
        return 0.0
    capacity = servers * service_rate
    if arrival_rate >= capacity:
        return math.inf
    waits = erlang_c(servers, arrival_rate / service_rate)
    tail = 1 - quantile
    return 0.0 if waits <= tail else math.log(waits / tail) / (capacity - arrival_rate)


@dataclass
class Plan:
    pages_per_core_s: float
    vcpus: int
    price_per_hour: float
    load_pages_per_hour: float
    latency_target_s: float
    instances: int
    instance_pages_per_s: float
    utilisation: float
    latency_p95_s: float
    cost_per_hour: float
    cost_per_1000_pages: float
    floor_cost_per_1000_pages: float
    backlog_target_per_instance: int


def plan(pages_per_core_s: float, vcpus: int, price_per_hour: float, load_pages_per_hour: float,
         latency_target_s: float, pages_per_document: float = 1.0) -> Plan:
    """The fewest instances whose p95 page latency (wait + reading) at this load meets the target."""
    if pages_per_core_s <= 0 or vcpus < 1 or load_pages_per_hour <= 0:
        raise ValueError("pages_per_core_s, vcpus and load must be positive")
    service_s = 1 / pages_per_core_s
    if latency_target_s < service_s:
        raise ValueError(f"a page takes {service_s:.2f} s to read: the latency target cannot be below it")
    arrival = load_pages_per_hour / 3600
    instance_rate = vcpus * pages_per_core_s
    instances = max(1, math.ceil(arrival / instance_rate))
    while wait_quantile(instances * vcpus, arrival, pages_per_core_s) + service_s > latency_target_s:
        instances += 1
    latency = wait_quantile(instances * vcpus, arrival, pages_per_core_s) + service_s
    cost_per_hour = instances * price_per_hour
    # What one instance clears within the wait the target leaves (the backlog policy's target).
    backlog_target = max(1, math.floor((latency_target_s - service_s) * instance_rate / pages_per_document))
    return Plan(
        pages_per_core_s=pages_per_core_s, vcpus=vcpus, price_per_hour=price_per_hour,
        load_pages_per_hour=load_pages_per_hour, latency_target_s=latency_target_s, instances=instances,
        instance_pages_per_s=instance_rate, utilisation=arrival / (instances * instance_rate),
        latency_p95_s=latency, cost_per_hour=cost_per_hour,
        cost_per_1000_pages=1000 * cost_per_hour / load_pages_per_hour,
        floor_cost_per_1000_pages=1000 * price_per_hour / (instance_rate * 3600),
        backlog_target_per_instance=backlog_target,
    )


# ---------------------------------------------------------------------------------------------------
# Burst: a discrete-event simulation of the backlog policy
# ---------------------------------------------------------------------------------------------------
@dataclass
class Policy:
    target_per_instance: float = 10.0  # documents waiting per in-service instance (modules/asg's default)
    min_size: int = 1
    max_size: int = 20
    warmup_s: float = 300.0  # launch to reading pages (boot, image start, engines loaded)
    period_s: float = 60.0  # metric period (the agent scrapes every 60 s)
    metric_delay_s: float = 60.0  # age of the newest datapoint the policy sees (scrape + ingestion)
    scale_out_periods: int = 3  # consecutive breaching datapoints before scaling out (target tracking: 3)
    scale_in_periods: int = 15  # consecutive datapoints below target before scaling in (target tracking: 15)
    cooldown_s: float = 300.0  # at least this long between two scale-ins


@dataclass
class Instance:
    launched: float
    ready: float
    engines: int
    busy: int = 0
    leaving: bool = False
    left: float | None = None


@dataclass
class BurstResult:
    pages: int
    completed: int
    waits: list[float] = field(repr=False)
    wait_p50_s: float
    wait_p95_s: float
    wait_max_s: float
    drained_s: float  # from the first arrival until the last page is read
    ended_s: float  # until the group is back at its minimum size
    instance_hours: float
    busy_engine_hours: float
    peak_instances: int
    cost: float
    cost_per_1000_pages: float
    capacity: list[tuple[float, int]] = field(repr=False)  # (time, instances launched and not left)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("waits", "capacity")}


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def simulate_burst(pages: int, burst_s: float, pages_per_core_s: float, vcpus: int, policy: Policy,
                   price_per_hour: float = DEFAULT_PRICE, pages_per_document: int = 1) -> BurstResult:
    """`pages` arriving evenly over `burst_s` seconds, read FIFO by the instances the policy keeps.
    Deterministic: same inputs, same result."""
    if pages < 1 or burst_s < 0 or pages_per_core_s <= 0 or vcpus < 1:
        raise ValueError("pages, pages_per_core_s and vcpus must be positive, burst_s not negative")
    if not 0 <= policy.min_size <= policy.max_size or policy.max_size < 1:
        raise ValueError("need 0 <= min_size <= max_size and max_size >= 1")
    service_s = 1 / pages_per_core_s
    gap = burst_s / pages
    instances: list[Instance] = [Instance(0.0, 0.0, vcpus) for _ in range(policy.min_size)]
    free = set(range(len(instances)))  # instances reading pages with an engine free
    queue: deque[float] = deque()  # arrival times of the pages waiting
    waits: list[float] = []
    events: list[tuple[float, int, int, int]] = []  # (time, order, kind, instance index)
    ARRIVAL, DONE, READY, SAMPLE = 0, 1, 2, 3
    sequence = 0

    def push(time: float, kind: int, index: int = -1) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (time, sequence, kind, index))

    samples: list[tuple[float, int]] = []  # (time, documents waiting)
    breaches = lows = 0
    last_scale_in = -math.inf
    capacity_log: list[tuple[float, int]] = [(0.0, len(instances))]
    busy_seconds = 0.0
    arrived = completed = 0
    last_done = end = 0.0

    def active() -> list[int]:
        return [i for i, inst in enumerate(instances) if inst.left is None and not inst.leaving]

    def dispatch(now: float) -> None:
        nonlocal busy_seconds
        while queue and free:
            index = min(free)
            inst = instances[index]
            waits.append(now - queue.popleft())
            inst.busy += 1
            busy_seconds += service_s
            push(now + service_s, DONE, index)
            if inst.busy == inst.engines:
                free.discard(index)

    def leave_if_idle(index: int, now: float) -> None:
        inst = instances[index]
        if inst.leaving and inst.busy == 0 and inst.left is None:
            inst.left = now

    def set_capacity(desired: int, now: float) -> None:
        current = active()
        if desired > len(current):
            for _ in range(desired - len(current)):
                instances.append(Instance(now, now + policy.warmup_s, vcpus))
                push(now + policy.warmup_s, READY, len(instances) - 1)
        elif desired < len(current):
            # Leave first those not yet reading, then the idle, then the busiest last.
            order = sorted(current, key=lambda i: (instances[i].ready <= now, instances[i].busy))
            for index in order[: len(current) - desired]:
                instances[index].leaving = True
                free.discard(index)
                leave_if_idle(index, now)
        capacity_log.append((now, len(active())))

    def evaluate(now: float) -> None:
        nonlocal breaches, lows, last_scale_in
        seen = [depth for time, depth in samples if time <= now - policy.metric_delay_s + 1e-9]
        if not seen:
            return
        backlog = seen[-1]
        current = len(active())
        desired = min(policy.max_size, max(policy.min_size, math.ceil(backlog / policy.target_per_instance)))
        breaches = breaches + 1 if desired > current else 0
        lows = lows + 1 if desired < current else 0
        if breaches >= policy.scale_out_periods:
            set_capacity(desired, now)
            breaches = 0
        elif lows >= policy.scale_in_periods and now - last_scale_in >= policy.cooldown_s:
            set_capacity(desired, now)
            lows, last_scale_in = 0, now

    for n in range(pages):
        push(n * gap, ARRIVAL)
    push(0.0, SAMPLE)

    while events:
        now, _, kind, index = heapq.heappop(events)
        if kind == ARRIVAL:
            arrived += 1
            queue.append(now)
            dispatch(now)
        elif kind == DONE:
            instances[index].busy -= 1
            completed += 1
            last_done = now
            if instances[index].leaving:
                leave_if_idle(index, now)
            else:
                free.add(index)
            dispatch(now)
        elif kind == READY:
            if not instances[index].leaving:
                free.add(index)
            dispatch(now)
        elif kind == SAMPLE:
            samples.append((now, math.ceil(len(queue) / pages_per_document)))
            evaluate(now)
            dispatch(now)
            # Until every page is read and the group is back at its minimum (the scale-in tail is paid for).
            if completed < pages or len(active()) > policy.min_size or any(i.left is None and i.leaving
                                                                           for i in instances):
                push(now + policy.period_s, SAMPLE)
            else:
                end = now

    for inst in instances:
        if inst.left is None:
            inst.left = max(end, inst.launched)
    instance_hours = sum(inst.left - inst.launched for inst in instances) / 3600
    cost = instance_hours * price_per_hour
    ordered = sorted(waits)
    return BurstResult(
        pages=pages, completed=completed, waits=waits,
        wait_p50_s=_quantile(ordered, 0.50), wait_p95_s=_quantile(ordered, 0.95),
        wait_max_s=ordered[-1] if ordered else 0.0, drained_s=last_done, ended_s=end,
        instance_hours=instance_hours, busy_engine_hours=busy_seconds / 3600,
        peak_instances=max(count for _, count in capacity_log), cost=cost,
        cost_per_1000_pages=1000 * cost / pages, capacity=capacity_log,
    )


# ---------------------------------------------------------------------------------------------------
# The measured throughput
# ---------------------------------------------------------------------------------------------------
def measured_pages_per_core_s(results: Path) -> tuple[float, str] | None:
    """Pages per second per core from the last benchmark run, and where it came from; None when no run
    recorded it. Preferred: the pages per CPU second of the service's process tree (throughput row,
    then this module's row), which other load on the measuring machine does not move; else the
    service's wall-clock rate over the machine's cores."""
    try:
        report = json.loads(results.read_text())
    except (OSError, ValueError):
        return None
    where = f"{results.name}, {report.get('time', 'time unknown')}"
    rows = [(row.get("name", "?"), row.get("details") or {}) for row in report.get("rows", [])]
    for name, details in rows:
        cpu_s = (details.get("cpu_s_per_page") or {}).get("service")
        if cpu_s:
            return 1 / cpu_s, f"{where}: {name}, per CPU second"
    for name, details in rows:
        if details.get("pages_per_core_s"):
            return details["pages_per_core_s"], f"{where}: {name}, per CPU second"
    for name, details in rows:
        if details.get("service_pages_per_s") and details.get("cores"):
            return details["service_pages_per_s"] / details["cores"], f"{where}: {name}, wall clock per core"
    return None


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages-per-core-s", type=float,
                        help="OCR pages per second per core, i.e. per CPU second (default: the last benchmark run's "
                             "benchmarks/results/latest.json)")
    parser.add_argument("--instance", default=DEFAULT_INSTANCE, help="instance type name, for the printout")
    parser.add_argument("--vcpus", type=int, default=DEFAULT_VCPUS, help="vCPUs of the instance type")
    parser.add_argument("--price", type=float, default=DEFAULT_PRICE,
                        help="USD per instance-hour (default: c7i.large on-demand, us-east-1)")
    parser.add_argument("--load", type=float, default=100_000, help="steady load, pages an hour")
    parser.add_argument("--latency", type=float, default=60, help="p95 page latency target, seconds")
    parser.add_argument("--pages-per-document", type=int, default=1,
                        help="pages per document (the policy's metric counts documents)")
    parser.add_argument("--burst-pages", type=int, default=100_000, help="pages in the simulated burst")
    parser.add_argument("--burst-seconds", type=float, default=3600, help="the burst arrives over this long")
    defaults = Policy()
    parser.add_argument("--backlog-target", type=float, default=defaults.target_per_instance,
                        help="documents waiting per in-service instance (backlog_target_per_instance)")
    parser.add_argument("--min-size", type=int, default=defaults.min_size)
    parser.add_argument("--max-size", type=int, default=defaults.max_size)
    parser.add_argument("--warmup", type=float, default=defaults.warmup_s, help="launch to reading, seconds")
    parser.add_argument("--period", type=float, default=defaults.period_s, help="metric period, seconds")
    parser.add_argument("--metric-delay", type=float, default=defaults.metric_delay_s,
                        help="age of the newest datapoint the policy sees, seconds")
    parser.add_argument("--scale-out-periods", type=int, default=defaults.scale_out_periods)
    parser.add_argument("--scale-in-periods", type=int, default=defaults.scale_in_periods)
    parser.add_argument("--cooldown", type=float, default=defaults.cooldown_s,
                        help="seconds between two scale-ins")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.pages_per_core_s is None:
        measured = measured_pages_per_core_s(RESULTS / "latest.json")
        if measured is None:
            parser.error("no throughput measured yet (benchmarks/results/latest.json): run "
                         "`python -m benchmarks.run throughput` or pass --pages-per-core-s")
        args.pages_per_core_s, args.throughput_source = measured
    else:
        args.throughput_source = "--pages-per-core-s"
    return args


def policy_of(args: argparse.Namespace) -> Policy:
    return Policy(
        target_per_instance=args.backlog_target, min_size=args.min_size, max_size=args.max_size,
        warmup_s=args.warmup, period_s=args.period, metric_delay_s=args.metric_delay,
        scale_out_periods=args.scale_out_periods, scale_in_periods=args.scale_in_periods,
        cooldown_s=args.cooldown,
    )


def burst_bound_s(policy: Policy, pages_per_core_s: float, vcpus: int) -> float:
    """The longest a page can wait while the policy keeps up (max size never reached): up to a period
    until the queue is sampled, the datapoint's age plus the periods the policy needs to see it breach,
    the warm-up of the instances it asks for, and reading the pages ahead of it (at most the target per
    instance). Waits beyond it mean the group hit max_size."""
    return (policy.period_s * (1 + policy.scale_out_periods) + policy.metric_delay_s + policy.warmup_s
            + math.ceil(policy.target_per_instance / vcpus) / pages_per_core_s)


# ---------------------------------------------------------------------------------------------------
# Benchmark rows (python -m benchmarks.run capacity)
# ---------------------------------------------------------------------------------------------------
QUICK_PAGES = 12  # pages of the quick throughput measurement (a few per core)
ROW_LOAD, ROW_LATENCY_S, ROW_BURST_PAGES, ROW_BURST_S = 100_000, 60.0, 100_000, 3600.0


def measure(servers, workdir: Path) -> list:
    """The throughput measured here and now (a short scan through the embedded service, engines warm, as
    pages per CPU second of the service's process tree: other load on the machine does not move it),
    turned into the cost per 1,000 pages beside Textract's price, and a burst through the backlog policy
    against the wait that detection and warm-up force. The burst's max size is twice the instances its
    mean rate needs, so the row shows the policy's reaction, not a cap."""
    from .harness import CORES, Row, TreeCpu, embedded_service, process, scanned_pdf

    data, _ = scanned_pdf(QUICK_PAGES, lines=30, seed=300)
    service = embedded_service(servers, "capacity")
    try:
        with service.client() as client:
            process(client, scanned_pdf(2 * CORES, lines=5, seed=999)[0], "warm-up")
            with TreeCpu(service.process.pid) as cpu:
                seconds, _ = process(client, data, "capacity-scan")
    finally:
        service.stop()
    rate = QUICK_PAGES / cpu.seconds
    steady = plan(rate, DEFAULT_VCPUS, DEFAULT_PRICE, ROW_LOAD, ROW_LATENCY_S)
    mean_need = math.ceil(ROW_BURST_PAGES / ROW_BURST_S / (DEFAULT_VCPUS * rate))
    policy = Policy(max_size=max(2, 2 * mean_need))
    burst = simulate_burst(ROW_BURST_PAGES, ROW_BURST_S, rate, DEFAULT_VCPUS, policy, DEFAULT_PRICE)
    bound = burst_bound_s(policy, rate, DEFAULT_VCPUS)
    details = {"pages_per_core_s": rate, "quick_pages": QUICK_PAGES, "quick_seconds": seconds,
               "quick_cpu_seconds": cpu.seconds, "wall_pages_per_core_s": QUICK_PAGES / seconds / CORES,
               "cores": CORES,
               "instance": DEFAULT_INSTANCE, "steady": asdict(steady), "burst": burst.summary(),
               "policy": asdict(policy), "burst_bound_s": bound, "textract_per_1000_pages": TEXTRACT_PER_1000}
    return [
        Row("Cost per 1,000 pages vs Textract",
            f"${steady.cost_per_1000_pages:.4f} ({steady.instances} x {DEFAULT_INSTANCE} at ${DEFAULT_PRICE}/h, "
            f"{ROW_LOAD:,} pages/h, p95 <= {ROW_LATENCY_S:g} s)",
            f"${TEXTRACT_PER_1000:.2f} (Textract DetectDocumentText, first 1M pages/month)",
            TEXTRACT_PER_1000 / steady.cost_per_1000_pages, ">= 10", details=details,
            note=f"{rate:.2f} pages per CPU second measured ({QUICK_PAGES} p); OCR instances only"),
        Row("Burst through the backlog policy",
            f"wait p95 {burst.wait_p95_s:.0f} s, p50 {burst.wait_p50_s:.0f} s; {burst.instance_hours:.1f} "
            f"instance-h, peak {burst.peak_instances}",
            f"detection + warm-up bound {bound:.0f} s", burst.wait_p95_s / bound, "<= 1", details=details,
            note=f"{ROW_BURST_PAGES:,} pages in {ROW_BURST_S / 3600:g} h, target {policy.target_per_instance:g}, "
                 f"size {policy.min_size}-{policy.max_size}, warm-up {policy.warmup_s:g} s (simulated)"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    steady = plan(args.pages_per_core_s, args.vcpus, args.price, args.load, args.latency, args.pages_per_document)
    burst = simulate_burst(args.burst_pages, args.burst_seconds, args.pages_per_core_s, args.vcpus, policy_of(args),
                           args.price, args.pages_per_document)
    if args.json:
        print(json.dumps({"throughput_source": args.throughput_source, "steady": asdict(steady),
                          "burst": burst.summary(), "policy": asdict(policy_of(args)),
                          "textract_per_1000_pages": TEXTRACT_PER_1000}, indent=2))
        return 0
    print(f"Throughput: {args.pages_per_core_s:.3f} pages/s per core ({args.throughput_source})")
    print(f"Instance: {args.instance}, {args.vcpus} vCPUs, ${args.price:.4f}/h "
          f"-> {steady.instance_pages_per_s:.2f} pages/s, {steady.instance_pages_per_s * 3600:,.0f} pages/h")
    print(f"\nSteady load {args.load:,.0f} pages/h, p95 latency target {args.latency:g} s:")
    print(f"  instances           {steady.instances} (utilisation {steady.utilisation:.0%}, "
          f"p95 latency {steady.latency_p95_s:.1f} s)")
    print(f"  cost                ${steady.cost_per_hour:.2f}/h, ${steady.cost_per_1000_pages:.4f} per 1,000 pages "
          f"(fully busy: ${steady.floor_cost_per_1000_pages:.4f})")
    print(f"  Textract            ${TEXTRACT_PER_1000:.2f} per 1,000 pages (DetectDocumentText, first 1M pages/month)")
    print(f"  backlog target      {steady.backlog_target_per_instance} documents per instance clears within the target")
    p = policy_of(args)
    print(f"\nBurst of {args.burst_pages:,} pages over {args.burst_seconds:g} s through the backlog policy "
          f"(target {p.target_per_instance:g}, size {p.min_size}-{p.max_size}, warm-up {p.warmup_s:g} s, "
          f"metric delay {p.metric_delay_s:g} s, scale-in cooldown {p.cooldown_s:g} s):")
    print(f"  queue wait          p50 {burst.wait_p50_s:.0f} s, p95 {burst.wait_p95_s:.0f} s, "
          f"max {burst.wait_max_s:.0f} s (detection + warm-up bound "
          f"{burst_bound_s(p, args.pages_per_core_s, args.vcpus):.0f} s)")
    print(f"  drained after       {burst.drained_s / 60:.1f} min, peak {burst.peak_instances} instances, "
          f"back at min size after {burst.ended_s / 60:.1f} min")
    print(f"  instance-hours      {burst.instance_hours:.1f} (engines busy {burst.busy_engine_hours / args.vcpus:.1f} "
          f"instance-hours), ${burst.cost:.2f}, ${burst.cost_per_1000_pages:.4f} per 1,000 pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
