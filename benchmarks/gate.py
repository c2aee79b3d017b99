"""How trustworthy the performance gate is on this host: false alarms of A/A runs, and the
smallest injected slowdown it catches every time, per figure family, side by side.

    .venv/bin/python benchmarks/gate.py [--runs 10] [--catch-runs 3] [--family host,kvm,guest]

For each family (a selection of perf checks and the slowdown that touches them):
1. A baseline run, then `--runs` more runs of the same host gated against it (A/A): every
   figure flagged a regression is a false alarm (goal: 0).
2. For each injected delay (tests/faults/inject.c), `--catch-runs` gated runs: whether the
   affected figures fail in every run, with the change the gate measured, and whether any
   unaffected figure failed beside them; then the smallest delay caught every time.
   host   the tap write and bridge path alone; large tap writes spin (slow_tap_write)
   kvm    a port-I/O exit of the built-in VMM; every KVM_RUN spins (slow_kvm_run)
   guest  virtio-net streams of the built-in VMM on a bridge; large tap writes spin
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.suite_runner import build_fault_library  # noqa: E402

PERF = "conformance/test_performance.py::"


@dataclass(frozen=True)
class Family:
    selection: tuple
    affected: tuple   # the figures the slowdown must fail
    fault: str        # KVMNET_FAULTS rule, {ns} the delay
    delays_ns: tuple


FAMILIES = {
    "host": Family((f"{PERF}test_the_tap_write_ceiling", f"{PERF}test_the_bridge_path_with_no_guest"),
                   ("host.tap_write.1514B", "host.bridge_tap.to_peer.1514B"),
                   "slow_tap_write={ns}/1000", (500, 1000, 2000, 4000, 8000, 16000)),
    "kvm": Family((f"{PERF}test_a_port_io_exit_and_back[builtin]",), ("kvm.builtin.pio_exit",),
                  "slow_kvm_run={ns}", (1000, 2000, 4000, 8000, 16000)),
    "guest": Family((f"{PERF}test_guest_streams_on_a_bridge[builtin-virtio]",),
                    ("guest.builtin.virtio.bridge.to_peer.1514B",),
                    "slow_tap_write={ns}/1000", (1000, 2000, 4000, 8000, 16000)),
}
_ROW = re.compile(r"^((?:host|kvm|guest)\.\S+)\s+.*?\s(passed|failed|undecided)"
                  r"(, (regression|improvement))?\s*$")


def gated_run(scratch, name, selection, baseline=None, preload=None, faults=()):
    """{figure: (verdict, change)} of one run of selection (and its figures file)."""
    figures = scratch / f"{name}.json"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
           f"--kvmnet-figures={figures}", "--kvmnet-allure-dir=", *selection]
    if baseline:
        cmd.append(f"--kvmnet-baseline={baseline}")
    env = dict(os.environ)
    if faults:
        env |= {"LD_PRELOAD": str(preload), "KVMNET_FAULTS": ",".join(faults)}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True).stdout
    verdicts = {}
    for line in out.splitlines():
        match = _ROW.match(line)
        if match:
            change = re.search(r"([+-]\d+\.\d)%", line)
            verdicts[match.group(1)] = (match.group(4) or match.group(2),
                                        float(change.group(1)) if change else None)
    if not verdicts:
        raise RuntimeError(f"the perf run printed no table:\n{out}")
    return verdicts, figures


def false_alarms(scratch, name, family, runs):
    first, baseline = gated_run(scratch, f"{name}-baseline", family.selection)
    print(f"A/A: {runs} runs of {len(first)} figures gated against one baseline")
    total = 0
    for run in range(runs):
        verdicts, _ = gated_run(scratch, f"{name}-aa{run}", family.selection, baseline)
        flagged = sorted(f for f, (v, _) in verdicts.items() if v == "regression")
        total += len(flagged)
        print(f"  run {run + 1:2}: {len(flagged)} false alarm(s) {' '.join(flagged)}")
    print(f"false alarms: {total} in {runs} runs x {len(first)} figures")
    return baseline


def smallest_caught(scratch, name, family, baseline, preload, runs):
    print(f"injected {family.fault}, {runs} runs each")
    print(f"{'delay':>8}  {'caught':>7}  " + "  ".join(f"{f:>42}" for f in family.affected)
          + "  others failed")
    smallest = None
    for delay in family.delays_ns:
        caught, changes, others = 0, {f: [] for f in family.affected}, set()
        for run in range(runs):
            verdicts, _ = gated_run(scratch, f"{name}-slow{delay}-{run}", family.selection,
                                    baseline, preload, [family.fault.format(ns=delay)])
            caught += all(verdicts.get(f, ("",))[0] == "regression" for f in family.affected)
            for f in family.affected:
                changes[f].append((verdicts.get(f) or ("", None))[1])
            others |= {f for f, (v, _) in verdicts.items()
                       if v == "regression" and f not in family.affected}
        cells = "  ".join(
            f"{' '.join('?' if c is None else f'{c:+.0f}%' for c in changes[f]):>42}"
            for f in family.affected)
        print(f"{delay / 1000:6.1f}us  {caught:3}/{runs:<3}  {cells}  "
              f"{' '.join(sorted(others)) or '-'}")
        if caught == runs and smallest is None:
            smallest = delay
    print(f"smallest slowdown caught every time: "
          f"{f'{smallest / 1000} us' if smallest else 'none'} ({family.fault})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--catch-runs", type=int, default=3)
    parser.add_argument("--family", default=",".join(FAMILIES),
                        help=f"comma-separated, of {', '.join(FAMILIES)}")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kvmnet-gate-"))
    preload = build_fault_library(scratch)
    for name in args.family.split(","):
        family = FAMILIES[name]
        print(f"== {name}: {' '.join(s.removeprefix(PERF) for s in family.selection)}")
        baseline = false_alarms(scratch, name, family, args.runs)
        smallest_caught(scratch, name, family, baseline, preload, args.catch_runs)
        print()


if __name__ == "__main__":
    main()
