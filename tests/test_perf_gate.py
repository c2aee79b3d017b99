"""The performance gate's arithmetic and files, on samples made here: the permutation
test, the verdicts (a regression must be both significant and larger than the minimum
effect; improvements never fail), and every malformed thresholds or baseline file
refused naming the file and the key."""

import json
import random
import re
from pathlib import Path

import pytest

from kvmnet.perf import baseline as baselines
from kvmnet.perf.article import claims
from kvmnet.perf.catalogue import FIGURES
from kvmnet.perf.figures import HIGHER, LOWER, Figure
from kvmnet.perf.gate import IMPROVEMENT, REGRESSION, UNCHANGED, breaches, compare, too_noisy
from kvmnet.perf.stats import permutation_p
from kvmnet.perf.thresholds import DEFAULT, Limits, Thresholds, ThresholdsError
from support.suite_runner import ROOT, expect

NAME = "host.tap_write.60B"


def samples(mean, rel_sd=0.03, n=10, seed=1):
    rng = random.Random(seed)
    return [rng.gauss(mean, mean * rel_sd) for _ in range(n)]


def test_the_same_distribution_is_not_significant_and_a_shift_is():
    assert permutation_p(samples(100, seed=1), samples(100, seed=2)) > 0.05
    assert permutation_p(samples(100, seed=1), samples(80, seed=2)) < 0.01


def test_a_slower_figure_regresses_only_when_significant_and_larger_than_the_minimum_effect():
    old = Figure(NAME, "frames/s", HIGHER, samples(1000, seed=1))
    slower = Figure(NAME, "frames/s", HIGHER, samples(850, seed=2))
    verdict = compare(slower, old, Limits(min_effect=0.05))
    assert verdict.verdict == REGRESSION and verdict.p < 0.01
    assert re.search(r"baseline median 1k, new median 8\d\d frames/s, change -1\d\.\d%, "
                     r"p=0\.000\d", str(verdict)), str(verdict)
    # The same 15% drop under a 20% minimum effect is information, not a failure.
    assert compare(slower, old, Limits(min_effect=0.20)).verdict == UNCHANGED


def test_a_tiny_significant_change_does_not_fail():
    old = Figure(NAME, "frames/s", HIGHER, samples(1000, rel_sd=0.001, seed=1))
    new = Figure(NAME, "frames/s", HIGHER, samples(990, rel_sd=0.001, seed=2))
    verdict = compare(new, old, Limits(min_effect=0.05))
    assert verdict.p < 0.01 and verdict.verdict == UNCHANGED


def test_an_improvement_is_reported_never_failed():
    old = Figure("kvm.builtin.pio_exit", "µs", LOWER, samples(30, seed=1))
    faster = Figure("kvm.builtin.pio_exit", "µs", LOWER, samples(20, seed=2))
    assert compare(faster, old, Limits()).verdict == IMPROVEMENT


def test_floors_ceilings_and_noise_are_said_with_the_figure_and_the_limit():
    figure = Figure(NAME, "frames/s", HIGHER, samples(1000))
    [said] = breaches(figure, Limits(floor=2000))
    assert said.startswith(f"{NAME}: median 1k frames/s") and "below its floor 2k" in said
    assert breaches(figure, Limits(floor=500, ceiling=5000)) == []
    noisy = Figure(NAME, "frames/s", HIGHER, [100, 300, 1000, 50, 900, 20, 700, 400])
    assert "too noisy to decide: spread" in too_noisy(noisy, Limits(max_spread=0.5))
    assert too_noisy(figure, Limits(max_spread=0.5)) is None


def test_the_shipped_thresholds_load():
    thresholds = Thresholds.load(DEFAULT, FIGURES)
    assert thresholds.defaults.min_effect == 0.05


@pytest.mark.parametrize("text, says", [
    ("format = 2\n", "key 'format' is 2"),
    ("format = 1\n[figure.'no.such.figure']\nfloor = 1\n", "figure.'no.such.figure' names no figure"),
    (f"format = 1\n[figure.'{NAME}']\nfloors = 1\n", "floors is not one of floor"),
    (f"format = 1\n[figure.'{NAME}']\nfloor = 'fast'\n", "floor = 'fast' is not a number"),
    ("format = 1\nthresholds = 3\n", "unknown key 'thresholds'"),
    ("format = [1\n", "not TOML"),
])
def test_a_malformed_thresholds_file_is_refused_naming_the_key(tmp_path, text, says):
    path = tmp_path / "thresholds.toml"
    path.write_text(text)
    with pytest.raises(ThresholdsError, match=rf"^{path}: .*") as refused:
        Thresholds.load(path, FIGURES)
    assert says in str(refused.value)


def test_a_missing_thresholds_file_is_refused(tmp_path):
    with pytest.raises(ThresholdsError, match="no such thresholds file"):
        Thresholds.load(tmp_path / "absent.toml", FIGURES)


def test_the_articles_claims_are_put_beside_this_runs_figures_or_said_missing():
    medians = {"guest.builtin.e1000.bridge.round_trip": 100.0,
               "guest.builtin.virtio.vhost-user-bridge.round_trip": 125.0,
               "guest.builtin.virtio.vhost-net-bridge.to_peer.1514B": 80_000.0,
               "guest.builtin.virtio.vhost-user-bridge.to_peer.1514B": 1.0,
               "guest.builtin.virtio.bridge.to_peer.1514B": 10_000.0}
    lines = claims(medians)
    assert ("vhost-net ~10% lower latency than e1000 | builtin: vhost-user (dpdk-testpmd) "
            "125 µs against e1000 100 µs: 25% higher") in lines
    assert ("vhost-net ~8x userspace virtio's throughput | builtin: vhost-net 8.0x userspace "
            "virtio-net (guest to peer, 1514 B)") in lines  # the kernel's own path first
    assert "vhost-net ~10% lower latency than e1000 | qemu: not measured" in lines


def test_a_baseline_round_trips_every_sample_and_the_identity(tmp_path):
    figure = Figure(NAME, "frames/s", HIGHER, samples(1000))
    identity = {"cpu_model": "AMD EPYC", "cores": 2, "kernel": "6.1.0-47-amd64"}
    baselines.write(tmp_path / "figures.json", [figure], identity)
    read = baselines.read(tmp_path / "figures.json", FIGURES)
    assert read.figures[NAME].samples == figure.samples and read.identity == identity
    assert read.incomparable(identity | {"kernel": "6.1.0-54-amd64"}) is None
    assert "cores 2, here 4" in read.incomparable(identity | {"cores": 4})


@pytest.mark.parametrize("data, says", [
    ("not json", "unreadable as JSON"),
    (json.dumps({"format": 0, "figures": {}}), "key 'format' is 0"),
    (json.dumps({"format": 1, "figures": {"no.such": {}}}), "figures.'no.such' names no figure"),
    (json.dumps({"format": 1, "figures": {NAME: {"unit": "frames/s"}}}), f"figures.'{NAME}' is malformed"),
])
def test_a_malformed_baseline_is_refused_naming_the_key(tmp_path, data, says):
    path = tmp_path / "baseline.json"
    path.write_text(data)
    with pytest.raises(baselines.BaselineError, match=str(path)) as refused:
        baselines.read(path, FIGURES)
    assert says in str(refused.value)


# The gate run for real on this host: the host-alone figures, which need no guest.
HOST_ALONE = ["conformance/test_performance.py::test_the_tap_write_ceiling",
              "conformance/test_performance.py::test_the_bridge_path_with_no_guest"]
LARGE_FRAMES = ("host.tap_write.1514B", "host.bridge_tap.to_peer.1514B")


def perf_run(suite, tmp_path, name, *args, **options):
    figures = tmp_path / f"{name}.json"
    result = suite.run(*map(suite.path, HOST_ALONE), f"--kvmnet-figures={figures}", *args,
                       **options)
    return result, figures


def table(result):
    """{figure: verdict column} of the run's kvmnet performance table."""
    rows = {}
    for line in result.stdout.lines:
        cells = line.split()
        if cells and cells[0].startswith("host."):
            rows[cells[0]] = line
    return rows


@pytest.mark.perf  # alone in this run too: its figures must not feel other tests
@pytest.mark.needs_root
@pytest.mark.needs_kvm
def test_two_runs_of_one_host_gate_clean(suite, tmp_path, no_netns_left):
    first, figures = perf_run(suite, tmp_path, "a")
    assert first.ret == 0, first.stdout.str()
    second, _ = perf_run(suite, tmp_path, "b", f"--kvmnet-baseline={figures}")
    assert second.ret == 0, second.stdout.str()
    rows = table(second)
    assert len(rows) == 6 and all("regression" not in row for row in rows.values()), rows


@pytest.mark.perf  # alone in this run too: its figures must not feel other tests
@pytest.mark.needs_root
@pytest.mark.needs_kvm
def test_a_slower_tap_path_for_large_frames_fails_exactly_those_figures(suite, tmp_path,
                                                                       no_netns_left):
    """Each write() of 1000 B or more to a tap spins 40 µs first (tests/faults/inject.c):
    the two figures that write large frames to a tap regress, by how much is said; the
    small-frame figures and those that read from the tap do not."""
    clean, figures = perf_run(suite, tmp_path, "clean")
    assert clean.ret == 0, clean.stdout.str()
    slow, _ = perf_run(suite, tmp_path, "slow", f"--kvmnet-baseline={figures}",
                       faults=["slow_tap_write=40000/1000"])
    rows = table(slow)
    regressed = {name for name, row in rows.items() if "regression" in row}
    assert regressed == set(LARGE_FRAMES), "\n".join(rows.values())
    out = slow.stdout.str()
    for name in LARGE_FRAMES:
        assert re.search(rf"{re.escape(name)}: baseline median \S+, new median \S+ frames/s, "
                         rf"change -\d+\.\d%, p=0\.0\d+: worse by more than its minimum effect",
                         out), out


@pytest.mark.perf  # alone in this run too: its figures must not feel other tests
@pytest.mark.needs_root
@pytest.mark.needs_kvm
def test_a_figure_under_its_floor_fails_naming_the_figure_and_the_floor(suite, tmp_path,
                                                                        no_netns_left):
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text('format = 1\n[figure."host.tap_write.60B"]\nfloor = 5e9\n')
    result, _ = perf_run(suite, tmp_path, "floor", f"--kvmnet-thresholds={thresholds}")
    assert result.ret == 1
    assert re.search(r"host\.tap_write\.60B: median \S+ frames/s \(spread \d+%\) is below its "
                     r"floor 5G", result.stdout.str()), result.stdout.str()
    # Every figure measured, failed or not, is an Allure 3 performance metric keyed by its
    # name (the tap-write check stopped at its first figure's failure).
    metrics = {m["key"]: m for f in Path(result.allure_dir).glob("*-perf.json")
               for m in json.loads(f.read_text())}
    assert set(metrics) == {"host.tap_write.60B",
                            *(f"host.bridge_tap.{d}.{size}B" for d in ("to_peer", "from_peer")
                              for size in (64, 1514))}
    tap = metrics["host.tap_write.60B"]
    assert tap["unit"] == "frames/s" and tap["better"] == "higher" and tap["value"] > 0
    assert tap["start"] < tap["stop"]


def test_a_malformed_thresholds_file_is_a_usage_error_before_anything_runs(suite, tmp_path):
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text("format = 7\n")
    result, _ = perf_run(suite, tmp_path, "bad", f"--kvmnet-thresholds={thresholds}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{thresholds}: key 'format' is 7" in result.stderr.str()


PHASES = '''
import json, os, time
import pytest

def record(kind):
    start = time.monotonic()
    time.sleep(0.3)
    with open(os.environ["KVMNET_PHASE_LOG"], "a") as log:
        log.write(json.dumps([kind, start, time.monotonic()]) + "\\n")

# Interleaved, so that the workers are handed ordinary and perf tests side by side.
KINDS = ["ordinary", "ordinary", "perf"] * 4
PARAMS = [pytest.param(kind, marks=[pytest.mark.perf] if kind == "perf" else [])
          for kind in KINDS]

@pytest.mark.parametrize("kind", PARAMS)
def test_phase(kind):
    record(kind)
'''


def test_under_xdist_a_perf_check_runs_while_no_other_test_does(suite, tmp_path):
    """Two workers: ordinary tests overlap one another (so the run is parallel and the
    check below could fail), and no ordinary test overlaps a perf one."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["fixtures.plugin"]\n')
    (tmp_path / "test_phases.py").write_text(PHASES)
    log = tmp_path / "phases.log"
    result = suite.run(str(tmp_path), "-n", "2", "-p", "xdist", "--kvmnet-allure-dir=",
                       env={"PYTHONPATH": str(ROOT), "KVMNET_PHASE_LOG": str(log)})
    expect(result, passed=12)
    spans = [json.loads(line) for line in log.read_text().splitlines()]
    perf = [(s, e) for kind, s, e in spans if kind == "perf"]
    ordinary = [(s, e) for kind, s, e in spans if kind == "ordinary"]

    def overlap(a, b):
        return a[0] < b[1] and b[0] < a[1]
    assert any(overlap(a, b) for a in ordinary for b in ordinary if a != b), (
        "ordinary tests never ran side by side: the run was not parallel")
    clashes = [(p, o) for p in perf for o in ordinary if overlap(p, o)]
    assert not clashes, f"perf checks ran beside ordinary tests: {clashes}"
