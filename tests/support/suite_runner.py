"""Running the conformance suite as a user would, from kvmnet's own tests.

`Suite.run(...)` runs pytest in a subprocess against the real conformance/ files, optionally
with faults injected at the system-call boundary (tests/faults/inject.c, preloaded) or as an
unprivileged user, and returns a pytest.RunResult to assert outcomes on.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
NOBODY = 65534

# Variables of the outer pytest run that must not leak into the one under test.
_OUTER_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST",
              "PYTEST_ADDOPTS", "LD_PRELOAD", "KVMNET_FAULTS", "KVMNET_PERF_LOCKS")


def build_fault_library(directory):
    """Compile tests/faults/inject.c into directory; return the library's path."""
    out = Path(directory) / "inject.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(out),
                    str(ROOT / "tests/faults/inject.c"), "-ldl"], check=True)
    out.chmod(0o755)
    return out


class Suite:
    def __init__(self, fault_library):
        self.fault_library = fault_library
        self.scratch = []

    @staticmethod
    def path(relative):
        """The absolute path of a file of this checkout, e.g. 'conformance/test_kvm_api.py'."""
        return str(ROOT / relative)

    def run(self, *args, faults=(), as_nobody=False, allure=True, timeout=300, plugins=(),
            env=None):
        """pytest *args in a subprocess; the result has .allure_dir (its Allure results)
        and .verdicts ({test name: passed/failed/skipped/error}, from its JUnit XML).

        faults: KVMNET_FAULTS rules (see tests/faults/inject.c).
        as_nobody: run as uid/gid 65534 with no capabilities.
        allure: False leaves --alluredir out, so the plugin's default applies.
        plugins: extra pytest plugins (modules of this checkout, e.g. tests.faults.nic_plugin).
        env: extra environment variables (what those plugins read).
        """
        scratch = Path(tempfile.mkdtemp(prefix="kvmnet-test-run-"))
        scratch.chmod(0o777)
        self.scratch.append(scratch)
        allure_dir, junit = scratch / "allure", scratch / "junit.xml"
        extra_env = env or {}
        env = {k: v for k, v in os.environ.items() if k not in _OUTER_ENV} | extra_env
        if plugins:
            env["PYTHONPATH"] = str(ROOT)
        if faults:
            env["LD_PRELOAD"] = str(self.fault_library)
            env["KVMNET_FAULTS"] = ",".join(faults)
        # A lab run's share is its own, never the checkout's lab-results/ (runs in parallel).
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
               f"--junitxml={junit}", f"--kvmnet-lab-results={scratch / 'lab'}",
               *[f"-p{p}" for p in plugins], *map(str, args)]
        if allure:
            cmd.append(f"--alluredir={allure_dir}")
        if as_nobody:
            env["HOME"] = "/"
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] + cmd
        start = time.monotonic()
        done = subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True,
                              timeout=timeout)
        result = pytest.RunResult(done.returncode, done.stdout.splitlines(),
                                  done.stderr.splitlines(), time.monotonic() - start)
        result.allure_dir = allure_dir
        result.verdicts = _verdicts(junit)
        return result

    def cleanup(self):
        for path in self.scratch:
            shutil.rmtree(path, ignore_errors=True)


def _verdicts(junit):
    if not junit.exists():
        return {}
    verdicts = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        outcome = next((child.tag for child in case
                        if child.tag in ("failure", "error", "skipped")), "passed")
        verdicts[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return verdicts


def labels(allure_dir, name):
    """Every value of the Allure label `name` across the results in allure_dir."""
    values = set()
    for path in Path(allure_dir).glob("*-result.json"):
        values |= {label["value"] for label in json.loads(path.read_text()).get("labels", [])
                   if label["name"] == name}
    return values


COUNTED = ("passed", "failed", "skipped", "errors")


def expect(result, **outcomes):
    """result.assert_outcomes(**outcomes), but a mismatch shows what the run printed."""
    got = result.parseoutcomes()
    counts = {k: got.get(k, 0) for k in COUNTED}
    assert counts == {k: outcomes.get(k, 0) for k in COUNTED}, result.stdout.str()
