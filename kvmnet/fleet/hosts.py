"""One host's outcome in a fleet run, read from its directory of the fleet's results (the
layout is in kvmnet/fleet/__init__.py): its verdict, its checks, its failures by fault class
and its performance figures against its own baseline.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

STATUS = "status.json"
FLEET = "fleet.json"
MERGED = "allure-results"  # the fleet's merged results, beside the hosts' directories

# The suite's exit codes (pytest's), as the verdict says them.
EXITS = {0: "passed", 1: "failed the gate", 2: "interrupted", 3: "internal error",
         4: "usage error", 5: "no checks ran", 124: "timed out"}
# How a failed performance check says what got worse (kvmnet/perf/gate.py, fixtures/perf.py).
_REGRESSED = re.compile(r"^(?P<figure>\S+): baseline median .*?, change (?P<change>[+-][\d.]+%)")
_BREACHED = re.compile(
    r"^(?P<figure>\S+): median .*? is (?P<side>below its floor|above its ceiling)")

NOT_GATED = "not gated"
UNREACHABLE = "unreachable"
SETUP_FAILED = "set-up failed"
NO_KVM = "no KVM"
UNFINISHED = "did not finish"


@dataclass
class Host:
    name: str
    status: dict = field(default_factory=dict)
    checks: Counter = field(default_factory=Counter)    # passed, failed, errors, skipped
    faults: Counter = field(default_factory=Counter)    # fault class -> failed checks
    figures: int = 0                                    # figures this run measured
    compared: bool = False                              # against a baseline
    regressions: list = field(default_factory=list)     # "figure +55.0%"
    breaches: list = field(default_factory=list)        # "figure above its ceiling"

    @property
    def state(self):
        return self.status.get("state")

    @property
    def exit(self):
        return self.status.get("exit")

    @property
    def kernel(self):
        return self.status.get("kernel") or "-"

    @property
    def passed(self):
        """Whether the host passed the gate: the suite ran and exited 0."""
        return self.state == "ran" and self.exit == 0

    @property
    def no_kvm(self):
        return self.status.get("kvm_present") is False

    @property
    def verdict(self):
        """The verdict in a few words; detail says the rest."""
        if not self.status:
            return NOT_GATED
        if self.state in (UNREACHABLE, SETUP_FAILED):
            return self.state
        if self.state != "ran":
            return f"{UNFINISHED} ({self.state})"
        said = EXITS.get(self.exit, f"exit {self.exit}")
        if self.exit not in (0, 1):
            said = f"broke: {said} (exit {self.exit})"
        elif self.exit == 1:
            said = f"{said} (exit 1)"
        return f"{NO_KVM}, {said}" if self.no_kvm else said

    @property
    def detail(self):
        """What the role said beyond the verdict (why unreachable, the set-up's last words,
        the missing KVM device), or ''."""
        if not self.status:
            return "its wave never started (an earlier one failed, or it failed before the gate)"
        said = " ".join(str(self.status.get("detail") or "").split())  # one line
        if self.no_kvm:
            said = "; ".join(s for s in (f"{self.status.get('kvm_device')} absent", said) if s)
        return said

    def performance(self):
        """The performance column: figures measured, against what, and what got worse."""
        if not self.figures and not self.regressions and not self.breaches:
            return "-"
        n = f"{self.figures} figure{'s' if self.figures != 1 else ''}"
        said = f"{n} vs its baseline" if self.compared else f"{n}, no baseline yet"
        worse = ([f"regressed {r}" for r in self.regressions]
                 + [f"{b}" for b in self.breaches])
        if worse:
            return f"{said}: {'; '.join(worse)}"
        return f"{said}: none worse" if self.compared else said


def hosts(results: Path) -> list[str]:
    """The hosts of the fleet run in results: fleet.json's, in the play's order; without
    one, every directory that holds a status.json."""
    results = Path(results)
    try:
        listed = json.loads((results / FLEET).read_text())["hosts"]
    except (OSError, ValueError, KeyError):
        listed = None
    if listed is not None:
        return [str(h) for h in listed]
    return sorted(p.parent.name for p in results.glob(f"*/{STATUS}"))


def read(results: Path, name: str) -> Host:
    """Host name's outcome from results/name/."""
    directory = Path(results, name)
    host = Host(name)
    try:
        host.status = json.loads((directory / STATUS).read_text())
    except (OSError, ValueError):
        return host
    host.checks = _junit(directory / "junit.xml")
    _allure(directory / "allure-results", host)
    try:
        host.figures = len(json.loads((directory / "figures.json").read_text())["figures"])
    except (OSError, ValueError, KeyError, TypeError):
        host.figures = 0
    host.compared = bool(host.status.get("baseline"))
    return host


def read_all(results: Path) -> list[Host]:
    return [read(results, name) for name in hosts(results)]


def _junit(path):
    counts = Counter()
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return counts
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        failed, errors, skipped = (int(suite.get(k, 0)) for k in ("failures", "errors", "skipped"))
        counts["passed"] += int(suite.get("tests", 0)) - failed - errors - skipped
        counts["failed"] += failed
        counts["errors"] += errors
        counts["skipped"] += skipped
    return counts


def _allure(directory, host):
    """Failures by their `fault` label, and the performance verdicts' figures."""
    for path in sorted(Path(directory).glob("*-result.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if result.get("status") not in ("failed", "broken"):
            continue
        fault = next((l.get("value") for l in result.get("labels", ())
                      if l.get("name") == "fault"), None) or "unclassified"
        host.faults[fault] += 1
        message = (result.get("statusDetails") or {}).get("message") or ""
        for said in message.splitlines()[0].split("; ") if message else ():
            said = said.removeprefix("AssertionError: ")
            # A figure both past its limit and regressed is classed a regression: both said.
            if m := _REGRESSED.match(said):
                host.regressions.append(f"{m['figure']} {m['change']}")
            elif m := _BREACHED.match(said):
                host.breaches.append(f"{m['figure']} {m['side']}")
