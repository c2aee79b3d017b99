"""A fleet gated with Ansible (README: "Many hosts"), for real: scripts/fleet.sh runs the
example playbook (ansible/upgrade.yml, the kvmnet_gate role) against an inventory of hosts
that are all this machine, reached two ways:

    local    Ansible's local connection
    remote   SSH as root to 169.254.77.2, Debian's sshd inside a network namespace this test
             made, from a client inside another joined to it by a veth (tests/support/sshd.py)

Each host has its own work directory (its checkout, .venv and results) under one temporary
directory, removed at the end with the namespaces and sshd. The remote host's namespace has
no way out, as a fleet behind a firewall: its set-up installs from a wheelhouse the test
downloads first (the suite's pinned dependencies), named by PIP_NO_INDEX/PIP_FIND_LINKS in
its kvmnet_environment, where a real fleet would name its package mirror. The selection is
small: the KVM API probes, one delivery check and one performance check (its thresholds made
wide, so this noisy machine cannot fail the gate by them: the point is the per-host
baseline).

1. Both hosts, one wave each: both gated and passed, their Allure results, JUnit XML,
   figures and output back in fleet-results/<host>/, one dashboard with each host (and its
   kernel) an environment, the fleet table naming both.
2. The same again: each host's figures are compared with its own from the first run.
3. A wave that fails stops the rollout: local passes, remote has no KVM (a device that does
   not exist, and --kvmnet-require=kvm), and the host after it is never gated, and says so.
4. A host nobody answers for (the sshd's address, a port nobody listens on) and one whose
   set-up fails are named as such in the table and the dashboard.

And, without any host: what the table and the merge make of results no small real run
brings back (a regression, a breached ceiling, hosts without results).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from kvmnet.fleet import hosts, merge, table
from kvmnet.host import netns
from kvmnet.perf.figures import Figure, fmt
from support.suite_runner import ROOT
from support.sshd import SSHD, SshHost

FLEET_SH = ROOT / "scripts/fleet.sh"
FIGURE = "kvm.builtin.pio_exit"
CHECKS = ["conformance/test_kvm_api.py",
          "conformance/test_delivery.py::test_peer_to_guest_every_frame_intact_and_in_order"
          "[builtin-virtio-64]",
          "conformance/test_performance.py::test_a_port_io_exit_and_back[builtin]"]
API_CHECKS = 6
# Wide enough that no sample this machine takes fails or skips the figure: the A/B comparison
# is still made and reported, and cannot decide the gate.
THRESHOLDS = f"""format = 1
[figure."{FIGURE}"]
ceiling = 1000000
min_effect = 1000
max_spread = 1000
"""
RUN_TIMEOUT = 900
# Variables of this pytest run that must not reach the suite the local host runs.
_OUTER_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST",
              "PYTEST_ADDOPTS", "LD_PRELOAD", "KVMNET_FAULTS", "KVMNET_PERF_LOCKS")


class Fleet:
    """The hosts, and fleet.sh run against an inventory of some of them."""

    def __init__(self, directory: Path, ssh: SshHost):
        self.directory, self.ssh = directory, ssh
        (directory / "thresholds.toml").write_text(THRESHOLDS)
        self.wheelhouse = directory / "wheelhouse"
        _download_wheelhouse(self.wheelhouse)

    def host(self, name, **variables):
        """Inventory variables of a host called name: `remote` (or any name with port=...)
        over SSH, any other through the local connection; each its own work directory."""
        port = variables.pop("port", None)
        if name == "remote" or port:
            reach = self.ssh.inventory_vars(port or 22) | {"kvmnet_environment": {
                "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(self.wheelhouse)}}
        else:
            reach = {"ansible_connection": "local"}
        return {name: reach | {"kvmnet_workdir": str(self.directory / "hosts" / name)} | variables}

    def run(self, label, hosts: dict, **extra):
        """scripts/fleet.sh on an inventory of hosts (in order); its results, dashboard and
        history under label. Returns the CompletedProcess, with .results and .report."""
        where = self.directory / label
        where.mkdir(exist_ok=True)
        inventory = where / "inventory.yml"  # JSON is YAML
        inventory.write_text(json.dumps({"kvm_hosts": {"hosts": hosts}}, indent=1))
        variables = where / "vars.json"
        variables.write_text(json.dumps(
            {"kvmnet_select": CHECKS, "kvmnet_frames": 300, "kvmnet_workers": 2,
             "kvmnet_thresholds": str(self.directory / "thresholds.toml")} | extra))
        ansible = self.directory / "ansible"
        env = {k: v for k, v in os.environ.items() if k not in _OUTER_ENV} | {
            "FLEET_RESULTS": str(where / "fleet-results"),
            "FLEET_REPORT": str(where / "fleet-report"),
            "KVMNET_HISTORY": str(where / "history.jsonl"),
            # Ansible's own files (temporary, facts, ssh control) stay in the test's directory.
            "ANSIBLE_HOME": str(ansible), "ANSIBLE_LOCAL_TEMP": str(ansible / "local"),
            "ANSIBLE_REMOTE_TEMP": str(ansible / "remote"), "ANSIBLE_NOCOLOR": "1"}
        done = subprocess.run([str(FLEET_SH), str(inventory), "-e", f"@{variables}"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        done.results, done.report = where / "fleet-results", where / "fleet-report"
        return done


def _download_wheelhouse(directory):
    """The wheels scripts/setup.sh installs (pyproject.toml's build requirements,
    dependencies and suite extras, pinned by constraints.txt), for a host with no index."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = (project["build-system"]["requires"] + project["project"]["dependencies"]
              + project["project"]["optional-dependencies"]["suite"])
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(directory),
                           "-c", str(ROOT / "constraints.txt"), *wanted],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip download: {done.stderr[-3000:]}"


def _scratch_parent():
    """/dev/shm where it has room and allows exec: each host's set-up writes half a GB in
    25,000 files, seconds in memory and minutes on a slow disk (and as long again to
    remove). Else the temporary directory."""
    try:
        shm = os.statvfs("/dev/shm")
    except OSError:
        return None
    roomy = shm.f_bavail * shm.f_frsize > 4 << 30
    return "/dev/shm" if roomy and not shm.f_flag & os.ST_NOEXEC else None


@pytest.fixture(scope="module")
def fleet():
    """The hosts: an sshd in a namespace of its own, the work directories. Module scope:
    the cases share the hosts' set-up (their .venv) as a real fleet's hosts do."""
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} missing: scripts/setup.sh installs openssh-server")
    directory = Path(tempfile.mkdtemp(prefix=f"kvmnet-fleet-{os.getpid()}-",
                                      dir=_scratch_parent()))
    ssh = SshHost(directory / "ssh")
    try:
        yield Fleet(directory, ssh.start())
    finally:
        made = [ns.name for ns in (ssh.server, ssh.client) if ns is not None]
        ssh.close()
        shutil.rmtree(directory, ignore_errors=True)
        left = set(made) & set(netns.ours())
        assert not left, f"namespaces left behind: {sorted(left)}"


@pytest.fixture(scope="module")
def first_run(fleet):
    """local then remote, one wave each, both gated on the small selection."""
    return fleet.run("main", fleet.host("local") | fleet.host("remote"))


def said(done):
    return (f"exit {done.returncode}\n--- stdout\n{done.stdout[-12000:]}\n"
            f"--- stderr\n{done.stderr[-4000:]}")


def status(results, host):
    return json.loads((results / host / "status.json").read_text())


def table_row(done, host):
    """The fleet table's row of host, from fleet.sh's output."""
    starts = re.compile(rf"{re.escape(host)}\s{{2,}}")
    rows = [line for line in done.stdout.splitlines() if starts.match(line)]
    assert rows, f"no row for {host} in the fleet table\n{said(done)}"
    return rows[-1]


def host_labels(results_dir):
    values = set()
    for path in Path(results_dir).glob("*-result.json"):
        labels = json.loads(path.read_text())["labels"]
        values |= {label["value"] for label in labels if label["name"] == "host"}
    return values


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_every_host_is_gated_and_gathered_into_one_dashboard(fleet, first_run):
    """Both hosts run the suite and pass; what each brought back is in fleet-results/<host>/,
    the dashboard holds each host as an environment, and the table names both."""
    done, results = first_run, first_run.results
    assert done.returncode == 0, said(done)
    kernel = os.uname().release
    for host in ("local", "remote"):
        st = status(results, host)
        assert (st["state"], st["exit"], st["kernel"], st["kvm_present"]) == \
            ("ran", 0, kernel, True), f"{host}: {st}\n{said(done)}"
        junit = (results / host / "junit.xml").read_text()
        assert f'tests="{len(CHECKS) + API_CHECKS - 1}"' in junit and 'failures="0"' in junit, junit
        assert list((results / host / "allure-results").glob("*-result.json")), host
        figures = json.loads((results / host / "figures.json").read_text())["figures"]
        assert FIGURE in figures, f"{host}: {figures}"
        assert "kvmnet verdicts" in (results / host / "output.txt").read_text()
        # A passing run's figures are that host's next baseline.
        assert (results / host / "baseline.json").read_bytes() == \
            (results / host / "figures.json").read_bytes()
    # The remote one was really reached over SSH, from the client namespace.
    log = (fleet.ssh.directory / "sshd.log").read_text()
    assert "Accepted publickey for root from 169.254.77.1" in log, log

    assert host_labels(results / "allure-results") == {"local", "remote"}
    environments = json.loads((done.report / "widgets/environments.json").read_text())
    names = {e["name"] for e in environments}
    assert {f"local, kernel {kernel}", f"remote, kernel {kernel}"} <= names, environments
    tests = json.loads((done.report / "test-results.json").read_text())["byId"].values()
    assert {t["environment"] for t in tests} == {f"local, kernel {kernel}",
                                                 f"remote, kernel {kernel}"}, tests

    for host in ("local", "remote"):
        row = table_row(done, host)
        assert f"{host}  " in row and kernel in row and "  passed  " in row, row
        assert "1 figure, no baseline yet" in row, row
    assert "2 of 2 hosts passed the gate" in done.stdout, said(done)
    page = (done.report / "fleet.html").read_text()
    assert 'href="hosts/remote.txt"' in page and 'href="hosts/local.txt"' in page, page
    assert 'href="index.html"' in page, page


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_each_host_is_compared_with_its_own_last_figures(fleet, first_run):
    """A second run sends each host the figures of its own last passing run as its
    baseline, and the suite there compares with them."""
    assert first_run.returncode == 0, said(first_run)
    results = first_run.results
    before = {h: (results / h / "baseline.json").read_bytes() for h in ("local", "remote")}
    done = fleet.run("main", fleet.host("local") | fleet.host("remote"))
    assert done.returncode == 0, said(done)
    for host in ("local", "remote"):
        assert status(results, host)["baseline"] is True, status(results, host)
        assert (results / host / "baseline-used.json").read_bytes() == before[host], host
        samples = json.loads(before[host])["figures"][FIGURE]
        median = Figure.from_json(FIGURE, samples).median
        output = (results / host / "output.txt").read_text()
        row = next((line for line in output.splitlines() if line.startswith(FIGURE)), "")
        assert f"  {fmt(median)}  " in row, \
            f"{host}: its baseline median {fmt(median)} is not in its figures table:\n{output}"
        assert "1 figure vs its baseline: none worse" in table_row(done, host), said(done)


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_a_failing_host_stops_the_rollout_at_its_wave(fleet, first_run):
    """local passes its wave; remote, without KVM where KVM is required, fails its own,
    and the rollout stops: the host after it is never gated, and the table says so."""
    hosts = (fleet.host("local")
             | fleet.host("remote", kvmnet_kvm_device="/nonexistent", kvmnet_require="kvm")
             | fleet.host("spare"))
    done = fleet.run("wave", hosts, kvmnet_select=["conformance/test_kvm_api.py"])
    results = done.results
    assert done.returncode != 0, said(done)
    assert status(results, "local")["exit"] == 0, said(done)
    remote = status(results, "remote")
    assert (remote["state"], remote["exit"], remote["kvm_present"]) == ("ran", 1, False), remote
    assert not (results / "spare").exists(), "the host after the failed wave was gated"
    assert not re.search(r"^spare\s+:", done.stdout, re.M), said(done)  # not in the recap

    assert "  passed  " in table_row(done, "local")
    row = table_row(done, "remote")
    assert "no KVM, failed the gate (exit 1)" in row and f"{API_CHECKS} host lacks" in row, row
    assert "not gated" in table_row(done, "spare")
    assert "remote: no KVM, failed the gate (exit 1): /nonexistent absent" in done.stdout, \
        said(done)
    assert "not gated (the rollout stopped before their wave): spare" in done.stdout, said(done)
    assert host_labels(results / "allure-results") == {"local", "remote", "spare"}


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_unreachable_and_broken_hosts_are_named(fleet, first_run):
    """A host nobody answers for is `unreachable`, with ssh's reason; one whose set-up fails
    is `set-up failed`, with set-up's last words; neither goes missing from the dashboard."""
    hosts = (fleet.host("ghost", port=2222)
             | fleet.host("broken", kvmnet_environment={"KVMNET_VENV": "/proc/kvmnet-venv"}))
    done = fleet.run("broken", hosts, kvmnet_wave=2, kvmnet_max_fail_percentage=100)
    results = done.results
    assert done.returncode != 0, said(done)
    ghost, broken = status(results, "ghost"), status(results, "broken")
    assert ghost["state"] == "unreachable" and "Connection refused" in ghost["detail"], ghost
    assert broken["state"] == "set-up failed" and "/proc/kvmnet-venv" in broken["detail"], broken
    assert "  unreachable  " in table_row(done, "ghost")
    assert "  set-up failed  " in table_row(done, "broken")
    assert "0 of 2 hosts passed the gate" in done.stdout, said(done)
    assert host_labels(results / "allure-results") == {"ghost", "broken"}
    tests = json.loads((done.report / "test-results.json").read_text())["byId"].values()
    assert len({t["environment"] for t in tests}) == 2, tests


REGRESSED = ("AssertionError: kvm.builtin.pio_exit: median 62.6 µs (spread 72%) is above its "
             "ceiling 30; kvm.builtin.pio_exit: baseline median 11.2, new median 62.6 µs, change "
             "+458.2%, p=0.0001: worse by more than its minimum effect 5%, measured 4 times\n"
             "assert not [...]")


def test_the_table_and_the_dashboard_name_every_host_and_what_got_worse(tmp_path):
    """A host whose figure regressed (and breached its ceiling), one unreachable, one never
    gated: each has its row, its environment's results and its metrics apart."""
    (tmp_path / "fleet.json").write_text(json.dumps({"hosts": ["a", "b", "c"]}))
    a = tmp_path / "a"
    (a / "allure-results").mkdir(parents=True)
    (a / "status.json").write_text(json.dumps({"state": "ran", "exit": 1, "baseline": True,
                                               "kernel": "6.1.0-54-amd64", "kvm_present": True}))
    (a / "junit.xml").write_text('<testsuites><testsuite tests="3" failures="1" errors="0" '
                                 'skipped="1"/></testsuites>')
    (a / "figures.json").write_text(json.dumps(
        {"figures": {FIGURE: {}, "kvm.builtin.boot_to_hello": {}}}))
    (a / "allure-results/1-result.json").write_text(json.dumps({
        "uuid": "1", "status": "failed", "statusDetails": {"message": REGRESSED},
        "labels": [{"name": "host", "value": "vm"}, {"name": "kernel", "value": "6.1.0-54-amd64"},
                   {"name": "fault", "value": "performance regression"}]}))
    (a / f"allure-results/kvmnet-{FIGURE}-perf.json").write_text(json.dumps(
        [{"id": f"{FIGURE}@6.1", "key": FIGURE, "title": FIGURE}]))
    (tmp_path / "b").mkdir()
    (tmp_path / "b/status.json").write_text(json.dumps({
        "state": "unreachable",
        "detail": "ssh: connect to host 169.254.77.2 port 2222:\r\nConnection refused"}))

    text = table.text(hosts.read_all(tmp_path), tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("a  "))
    for part in ("6.1.0-54-amd64", "failed the gate (exit 1)", "1 passed, 1 failed, 1 skipped",
                 "1 performance regression", "2 figures vs its baseline: regressed "
                 f"{FIGURE} +458.2%; {FIGURE} above its ceiling"):
        assert part in row, f"{part!r} not in {row!r}"
    assert ("b: unreachable: ssh: connect to host 169.254.77.2 port 2222: Connection refused"
            in text), text
    assert re.search(r"^c\s+-\s+not gated", text, re.M), text
    assert text.rstrip().endswith(
        "0 of 3 hosts passed the gate; failed: a (failed the gate (exit 1)), b (unreachable); "
        "not gated (the rollout stopped before their wave): c"), text

    assert merge.merge(tmp_path) == {"a": 1, "b": 0, "c": 0}
    merged = [json.loads(path.read_text())
              for path in (tmp_path / "allure-results").glob("*-result.json")]
    by_host = {next(l["value"] for l in r["labels"] if l["name"] == "host"): r for r in merged}
    assert set(by_host) == {"a", "b", "c"}
    assert {"name": "nodename", "value": "vm"} in by_host["a"]["labels"]
    assert (by_host["b"]["status"], by_host["c"]["status"]) == ("broken", "skipped")
    metric = json.loads((tmp_path / f"allure-results/kvmnet-{FIGURE}@a-perf.json").read_text())
    assert metric[0]["key"] == f"{FIGURE}@a", metric
