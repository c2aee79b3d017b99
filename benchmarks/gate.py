"""How trustworthy the performance gate is on this host: false alarms of A/A runs, and the
smallest injected slowdown it catches every time, side by side in one sitting.

    .venv/bin/python benchmarks/gate.py [--runs 10] [--catch-runs 3]

1. A baseline run of the host-alone perf checks, then `--runs` more runs of the same host
   gated against it (A/A): every figure flagged a regression is a false alarm (goal: 0).
2. For each injected slowdown of large-frame tap writes (tests/faults/inject.c,
   slow_tap_write=NS/1000), `--catch-runs` gated runs: the smallest delay whose two
   affected figures fail in every run, with the change the gate measured, and whether any
   unaffected figure failed beside them.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from suite_runner import build_fault_library  # noqa: E402

SELECTION = ["conformance/test_performance.py::test_the_tap_write_ceiling",
             "conformance/test_performance.py::test_the_bridge_path_with_no_guest"]
AFFECTED = ("host.tap_write.1514B", "host.bridge_tap.to_peer.1514B")
DELAYS_NS = (500, 1000, 2000, 4000, 8000, 16000)
_ROW = re.compile(r"^(host\.\S+)\s+.*?\s(passed|failed|undecided)(, (regression|improvement))?\s*$")


def gated_run(scratch, name, baseline=None, preload=None, faults=()):
    """{figure: (verdict, change)} of one run of SELECTION (and its figures file)."""
    figures = scratch / f"{name}.json"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
           f"--kvmnet-figures={figures}", "--kvmnet-allure-dir=", *SELECTION]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--catch-runs", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kvmnet-gate-"))
    preload = build_fault_library(scratch)
    first, baseline = gated_run(scratch, "baseline")
    print(f"A/A: {args.runs} runs of the host-alone figures gated against one baseline")
    alarms = []
    for run in range(args.runs):
        verdicts, _ = gated_run(scratch, f"aa{run}", baseline)
        flagged = sorted(f for f, (v, _) in verdicts.items() if v == "regression")
        alarms.append(flagged)
        print(f"  run {run + 1:2}: {len(flagged)} false alarm(s) {' '.join(flagged)}")
    print(f"false alarms: {sum(map(len, alarms))} in {args.runs} runs x "
          f"{len(first)} figures\n")
    print(f"injected slowdown of tap writes >= 1000 B, {args.catch_runs} runs each")
    print(f"{'delay':>8}  {'caught':>7}  " + "  ".join(f"{f:>30}" for f in AFFECTED)
          + "  others failed")
    smallest = None
    for delay in DELAYS_NS:
        caught, changes, others = 0, {f: [] for f in AFFECTED}, set()
        for run in range(args.catch_runs):
            verdicts, _ = gated_run(scratch, f"slow{delay}-{run}", baseline, preload,
                                    [f"slow_tap_write={delay}/1000"])
            caught += all(verdicts.get(f, ("",))[0] == "regression" for f in AFFECTED)
            for f in AFFECTED:
                changes[f].append((verdicts.get(f) or ("", None))[1])
            others |= {f for f, (v, _) in verdicts.items()
                       if v == "regression" and f not in AFFECTED}
        cells = "  ".join(f"{' '.join('?' if c is None else f'{c:+.0f}%' for c in changes[f]):>30}"
                          for f in AFFECTED)
        print(f"{delay / 1000:6.1f}us  {caught:3}/{args.catch_runs:<3}  {cells}  "
              f"{' '.join(sorted(others)) or '-'}")
        if caught == args.catch_runs and smallest is None:
            smallest = delay
    print(f"\nsmallest slowdown caught every time: "
          f"{smallest / 1000 if smallest else 'none'} us per large tap write")


if __name__ == "__main__":
    main()
