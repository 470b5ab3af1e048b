"""benchmarks/capacity.py: the steady-load sizing and the burst simulation of the backlog policy.
Pure computation, deterministic: the assertions are properties of queues, not timings."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import capacity
from benchmarks.capacity import Policy, burst_bound_s, erlang_c, plan, simulate_burst, wait_quantile


# ---- steady load ---------------------------------------------------------------------------------
def test_erlang_c_of_one_server_is_its_utilisation():
    """M/M/1: an arrival waits exactly when the server is busy, with probability rho."""
    for rho in (0.1, 0.5, 0.9):
        assert erlang_c(1, rho) == pytest.approx(rho)
    assert erlang_c(4, 0) == 0 and erlang_c(4, 4) == 1


def test_wait_quantile_matches_the_m_m_1_formula():
    # M/M/1 with lambda 0.8, mu 1: P(W > t) = 0.8 exp(-0.2 t); the p95 solves 0.8 exp(-0.2 t) = 0.05.
    assert wait_quantile(1, 0.8, 1.0) == pytest.approx(math.log(0.8 / 0.05) / 0.2)
    assert wait_quantile(1, 1.0, 1.0) == math.inf
    assert wait_quantile(10, 0.1, 1.0) == 0  # hardly anyone waits: the p95 wait is zero


def test_plan_is_the_fewest_instances_that_meet_the_target():
    sized = plan(pages_per_core_s=1.0, vcpus=2, price_per_hour=0.1, load_pages_per_hour=36_000, latency_target_s=5)
    assert sized.instances * sized.instance_pages_per_s >= 10  # 36,000 pages/h = 10 pages/s
    assert sized.latency_p95_s <= 5
    fewer = sized.instances - 1
    assert fewer * 2 * 1.0 <= 10 or wait_quantile(fewer * 2, 10, 1.0) + 1 > 5, "one instance fewer would do"
    assert sized.cost_per_1000_pages == pytest.approx(1000 * sized.instances * 0.1 / 36_000)
    assert sized.floor_cost_per_1000_pages == pytest.approx(1000 * 0.1 / (2 * 3600))
    assert sized.floor_cost_per_1000_pages <= sized.cost_per_1000_pages


def test_a_tighter_latency_target_never_needs_fewer_instances():
    sizes = [plan(1.0, 2, 0.1, 36_000, target).instances for target in (60, 10, 3, 1.5)]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]


def test_plan_refuses_a_target_below_one_page():
    with pytest.raises(ValueError, match="latency target"):
        plan(1.0, 2, 0.1, 1000, latency_target_s=0.5)


# ---- burst ---------------------------------------------------------------------------------------
def test_every_page_is_read_once():
    """Conservation: pages in = pages read = waits recorded; the engines were busy exactly pages x
    reading time; the instances paid for cover at least that."""
    result = simulate_burst(5000, 600, pages_per_core_s=2.0, vcpus=2, policy=Policy(max_size=5))
    assert result.completed == result.pages == len(result.waits) == 5000
    assert result.busy_engine_hours == pytest.approx(5000 * 0.5 / 3600)
    assert result.instance_hours * 2 >= result.busy_engine_hours
    assert min(result.waits) >= 0
    assert result.cost == pytest.approx(result.instance_hours * capacity.DEFAULT_PRICE)


def test_one_instance_wait_grows_linearly():
    """Max size 1, one engine reading a page a second, two pages a second arriving: page i arrives at
    i/2 s and starts at i s (FIFO, never idle), so it waits exactly i/2 s."""
    policy = Policy(min_size=1, max_size=1)
    result = simulate_burst(200, 100, pages_per_core_s=1.0, vcpus=1, policy=policy)
    assert result.waits == pytest.approx([i / 2 for i in range(200)])
    assert result.peak_instances == 1
    assert result.drained_s == pytest.approx(200)


@pytest.mark.parametrize(
    "policy",
    [
        Policy(max_size=10_000, scale_out_periods=1, metric_delay_s=60, warmup_s=300),
        Policy(max_size=10_000, scale_out_periods=3, metric_delay_s=120, warmup_s=90, target_per_instance=50),
        Policy(max_size=10_000, min_size=0, scale_out_periods=2, metric_delay_s=30, warmup_s=600,
               target_per_instance=3, scale_in_periods=2, cooldown_s=0),
    ],
    ids=["aws-like", "slow-metric", "flapping"],
)
def test_without_a_max_size_the_wait_is_bounded_by_detection_and_warm_up(policy):
    """With room to grow, no page waits longer than it takes the policy to see it (sampling, the
    datapoint's age, the breaching periods), an instance to warm up, and the pages ahead of it (at
    most the target per instance) to be read. With max size 1 the same burst waits far longer."""
    rate, vcpus = 1.0, 2
    result = simulate_burst(20_000, 1800, pages_per_core_s=rate, vcpus=vcpus, policy=policy)
    bound = burst_bound_s(policy, rate, vcpus)
    assert result.completed == 20_000
    assert result.wait_max_s <= bound + 1e-6, (result.wait_max_s, bound)
    assert result.wait_max_s > policy.warmup_s, "the burst outgrew the first instances: someone waited for scaling"
    capped = simulate_burst(20_000, 1800, rate, vcpus, Policy(**{**policy.__dict__, "max_size": 1, "min_size": 1}))
    assert capped.wait_p95_s > 3 * bound


def test_the_group_returns_to_its_minimum_and_pays_for_the_tail():
    policy = Policy(min_size=1, max_size=8)
    result = simulate_burst(10_000, 900, pages_per_core_s=1.0, vcpus=2, policy=policy)
    assert result.capacity[-1][1] == 1
    assert result.ended_s >= result.drained_s + policy.scale_in_periods * policy.period_s
    assert result.peak_instances == 8


def test_simulation_is_deterministic():
    first = simulate_burst(3000, 300, 1.5, 2, Policy(max_size=4))
    again = simulate_burst(3000, 300, 1.5, 2, Policy(max_size=4))
    assert first.summary() == again.summary() and first.waits == again.waits


# ---- the command ----------------------------------------------------------------------------------
def _write_results(folder, rate: float, cores: int):
    folder.mkdir(exist_ok=True)
    row = {"name": "Throughput vs tesseract CLI", "details": {"service_pages_per_s": rate, "cores": cores}}
    (folder / "latest.json").write_text(json.dumps({"time": "t", "rows": [{"name": "other", "details": {}}, row]}))


def test_throughput_comes_from_the_last_benchmark_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(capacity, "RESULTS", tmp_path / "results")
    _write_results(tmp_path / "results", rate=3.0, cores=2)
    assert capacity.main(["--json", "--burst-pages", "1000", "--burst-seconds", "60"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steady"]["pages_per_core_s"] == 1.5
    assert "latest.json" in report["throughput_source"]
    assert report["burst"]["completed"] == 1000
    assert report["steady"]["cost_per_1000_pages"] < report["textract_per_1000_pages"]


def test_without_a_measurement_the_flag_is_required(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(capacity, "RESULTS", tmp_path / "nothing")
    with pytest.raises(SystemExit) as exit_info:
        capacity.main([])
    assert exit_info.value.code == 2 and "--pages-per-core-s" in capsys.readouterr().err
    assert capacity.main(["--pages-per-core-s", "1", "--burst-pages", "500", "--burst-seconds", "60"]) == 0
    out = capsys.readouterr().out
    assert "per 1,000 pages" in out and "p95" in out


def test_cpu_seconds_per_page_win_over_the_wall_clock(tmp_path):
    """Other load on the measuring machine stretches the wall clock, not the CPU seconds a page costs."""
    results = tmp_path / "latest.json"
    row = {"name": "Throughput vs tesseract CLI",
           "details": {"service_pages_per_s": 1.0, "cores": 2, "cpu_s_per_page": {"service": 0.8}}}
    results.write_text(json.dumps({"rows": [row]}))
    rate, source = capacity.measured_pages_per_core_s(results)
    assert rate == pytest.approx(1.25) and "CPU second" in source
    assert capacity.measured_pages_per_core_s(tmp_path / "absent.json") is None
