"""What a killed run leaves: nothing once any later run has started, and a Ctrl-C'd run
nothing at all; while a run that goes on at the same time keeps everything it holds.

The runs are the real suite, `-n 2`, holding a guest on QEMU that streams frames through
dpdk-testpmd (vhost-user) on a bridge in scratch namespaces when it is stopped. What is on
the host is compared before and after: network namespaces (/run/netns), processes by the
suite's markers and by the run's own paths on their command lines, testpmd's runtime
directories, perf lock directories, and the sockets and files in the run's temporary
directory. Another run may be going on this host at the same time (CI), so a difference is
the killed run's when it carries the pid of one of the killed run's processes.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvmnet import process, sweep
from kvmnet.guest_image import build
from kvmnet.host import netns
from kvmnet.lab import machine
from kvmnet.runners import QemuRunner, qemu
from kvmnet.backends.vhost import testpmd
from support.processes import processes_mentioning, sigint_as_at_a_terminal
from support.suite_runner import ROOT

# The outer run's variables that must not reach a run under test (support/suite_runner.py).
_OUTER_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST",
              "PYTEST_ADDOPTS", "LD_PRELOAD", "KVMNET_FAULTS", "KVMNET_PERF_LOCKS")
STREAMING = "conformance/test_vhost.py"
STREAMING_K = "test_after_handoff and qemu and vhost-user and 1514"
# What a streaming run holds, every kind of it.
KINDS = ("namespace", "guest QEMU", "testpmd", "testpmd runtime dir", "perf locks")
_NETNS_NAME = re.compile(r"^kvmnet-[\w.]+-(\d+)-\d+$")

needs_peers = pytest.mark.skipif(bool(QemuRunner.missing() or testpmd.missing()),
                                 reason=str(QemuRunner.missing() or testpmd.missing()))


@dataclass(frozen=True, order=True)
class Held:
    """Something a run holds on the host, and the pid of the process it belongs to."""
    kind: str
    name: str
    owner: int


def held():
    """Everything kvmnet runs hold on this host now, any run's."""
    names = os.listdir(netns.NETNS_DIR) if os.path.isdir(netns.NETNS_DIR) else []
    found = {Held("namespace", name, int(m.group(1)))
             for name in names if (m := _NETNS_NAME.match(name))}
    for kind, processes in (("guest QEMU", qemu.running()), ("testpmd", testpmd.running()),
                            ("lab machine", machine.running())):
        found |= {Held(kind, str(pid), starter) for pid, starter in processes.items()}
    found |= {Held("testpmd runtime dir", str(path), starter)
              for path, starter in testpmd.runtime_dirs().items()}
    found |= {Held("perf locks", str(path), controller)
              for path, controller in sweep.perf_lock_dirs().items()}
    return found


def process_group(pgid):
    """Pids of the processes in process group pgid (a run's controller and workers)."""
    pids = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except FileNotFoundError:
            continue
        if int(stat.rpartition(")")[2].split()[2]) == pgid:
            pids.add(int(entry))
    return pids


def left_in(directory):
    """The sockets and testpmd command files left under directory."""
    return sorted(str(p) for p in Path(directory).rglob("*")
                  if p.is_socket() or p.suffix == ".cmds")


class StreamingRun:
    """The suite (-n 2) running a QEMU guest's stream through testpmd, in a process group of
    its own; `wait_mid_stream()` returns once frames flow, and knows the run's pids."""

    def __init__(self):
        # Short: testpmd's socket is made in the run's tmp_path, and a socket's path has 108
        # bytes. The guest image's copy here is on the run's QEMU's command line.
        self.scratch = Path(tempfile.mkdtemp(prefix="kvmnet-killed-run-"))
        self.basetemp, self.image = self.scratch / "base", self.scratch / "guest.bin"
        self.image.write_bytes(build().read_bytes())
        env = {k: v for k, v in os.environ.items() if k not in _OUTER_ENV}
        self.before = held()  # what the host held before this run
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2",
             STREAMING, "-k", STREAMING_K, "--kvmnet-frames=10000000",
             f"--kvmnet-guest-image={self.image}", f"--basetemp={self.basetemp}",
             "--kvmnet-allure-dir="],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, preexec_fn=sigint_as_at_a_terminal)
        self.pids = {self.proc.pid}

    def holding(self):
        """What this run holds now."""
        return {h for h in held() if h.owner in self.pids}

    def wait_mid_stream(self, timeout=120):
        """Wait until the run holds something of every kind (KINDS) and frames move in its
        namespaces; returns what it holds then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.pids |= process_group(self.proc.pid)
            now = self.holding()
            kinds = {h.kind for h in now}
            if set(KINDS) <= kinds and self._frames(now) > 10_000:
                return now
            time.sleep(0.2)
        out = self.stop(signal.SIGKILL)
        pytest.fail(f"the run never streamed (it holds {sorted(self.holding())}): {out}")

    @staticmethod
    def _frames(holding):
        total = 0
        for name in (h.name for h in holding if h.kind == "namespace"):
            try:
                with netns.Netns(name).ipr() as ipr:
                    for link in ipr.get_links():
                        stats = link.get_attr("IFLA_STATS64") or {}
                        total += stats.get("rx_packets", 0) + stats.get("tx_packets", 0)
            except OSError:  # removed meanwhile (a teardown)
                pass
        return total

    def remove(self):
        """Remove the run's temporary directory (after the checks of what it left)."""
        shutil.rmtree(self.scratch)

    def stop(self, sig, timeout=120):
        """sig to the whole process group, as a terminal (SIGINT) or a killer sends it;
        returns the run's output once it has ended."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:  # it ended on its own
            pass
        return self.proc.communicate(timeout=timeout)[0]


def _gone(pids, timeout=15):
    deadline = time.monotonic() + timeout
    while any(process.alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if process.alive(pid)]


def _later_run():
    env = {k: v for k, v in os.environ.items() if k not in _OUTER_ENV}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "conformance/test_kvm_api.py", "--kvmnet-allure-dir="],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def streaming_run():
    """Yields a StreamingRun, started; ends it if the test did not, then removes its
    temporary directory. Function scope."""
    run = StreamingRun()
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.stop(signal.SIGKILL)
        run.remove()


@pytest.fixture
def parallel_run():
    """What a run going on at the same time holds (this test's process is its starter):
    a namespace and a marked QEMU stand-in; both must outlive any sweep. Yields the set."""
    with netns.Netns.create("alive") as ns:
        stand_in = process.start([sys.executable, "-c", "import time; time.sleep(600)",
                                  "-name", f"{qemu.MARK}{os.getpid()}"])
        try:
            yield {Held("namespace", ns.name, os.getpid()),
                   Held("guest QEMU", str(stand_in.pid), os.getpid())}
        finally:
            stand_in.kill()
            stand_in.wait()


@pytest.mark.needs_kvm
@pytest.mark.needs_root
@needs_peers
def test_a_run_killed_mid_stream_leaves_nothing_once_another_run_starts(parallel_run,
                                                                        streaming_run):
    """SIGKILL to a run's controller and workers mid-stream: its QEMU and testpmd die with
    it at once; the next run, of checks that make no namespace, removes the rest."""
    run = streaming_run
    during = run.wait_mid_stream()
    run.stop(signal.SIGKILL)
    processes = [int(h.name) for h in during if h.kind in ("guest QEMU", "testpmd")]
    assert not _gone(processes, timeout=5), f"outlived their SIGKILLed run: {sorted(during)}"

    later = _later_run()
    assert later.returncode == 0, later.stdout + later.stderr
    after = held()
    assert not run.holding(), f"left by the killed run: {sorted(run.holding())}"
    assert parallel_run <= after, f"a live run's swept: {sorted(parallel_run - after)}"
    assert not {h for h in after - run.before if h.owner in run.pids}
    assert not processes_mentioning(str(run.image)), "the killed run's QEMU runs"
    assert not processes_mentioning(str(run.basetemp)), "the killed run's testpmd runs"
    assert not left_in(run.basetemp), "the killed run's socket or commands are left"


@pytest.mark.needs_kvm
@pytest.mark.needs_root
@needs_peers
def test_ctrl_c_mid_stream_leaves_nothing(parallel_run, streaming_run):
    """SIGINT to the whole process group, as a terminal's Ctrl-C: once the run has ended,
    nothing of it is left, with no later run's help."""
    run = streaming_run
    during = run.wait_mid_stream()
    out = run.stop(signal.SIGINT)
    assert run.proc.returncode == pytest.ExitCode.INTERRUPTED, out
    processes = [int(h.name) for h in during if h.kind in ("guest QEMU", "testpmd")]
    assert not _gone(processes, timeout=5), f"outlived the interrupted run: {sorted(during)}"
    assert not run.holding(), f"left by the interrupted run: {sorted(run.holding())}\n{out}"
    assert parallel_run <= held()
    assert not processes_mentioning(str(run.image))
    assert not processes_mentioning(str(run.basetemp))
    assert not left_in(run.basetemp), out


STARTER = """
import sys, threading, time
from kvmnet import process
def start():
    print(process.start(["sleep", "600"]).pid, flush=True)
if sys.argv[1] == "helper":
    helper = threading.Thread(target=start)
    helper.start()
    helper.join()  # the thread that forked is gone: its child must live on
else:
    start()
time.sleep(600)
"""


@pytest.mark.parametrize("thread", ["main", "helper"])
def test_a_started_process_dies_with_its_starter_killed_by_sigkill(thread):
    """PR_SET_PDEATHSIG fires when the forking *thread* ends: a process started from a
    helper thread outlives that thread, and dies with the starter."""
    with Starter(STARTER, thread) as started:
        assert process.alive(started.child), "the child died with the thread that started it"
        started.kill()
        assert not _gone([started.child], timeout=2), "sleep outlived its SIGKILLed starter"


QEMU_STARTER = """
import sys, time
from kvmnet.guest_image import build
from kvmnet.runners import QemuRunner
guest = QemuRunner().start(build())
guest.channel.wait_hello(30)  # booted, and idle from now on: it prints nothing more
print(guest._proc.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.needs_kvm
@pytest.mark.skipif(bool(QemuRunner.missing()), reason=str(QemuRunner.missing()))
def test_an_idle_qemu_guest_dies_with_its_starter_killed_by_sigkill():
    """An idle guest QEMU, in a session of its own, notices nothing of its starter's death
    (a killed run's QEMU ran on, its parent init): the parent-death signal ends it."""
    with Starter(QEMU_STARTER) as started:
        assert started.child in qemu.running(), "the guest QEMU does not carry its mark"
        started.kill()
        # At once: a later run's sweep would end it too, within seconds, on a busy host.
        assert not _gone([started.child], timeout=2), "QEMU outlived its SIGKILLed starter"


class Starter:
    """A process running script, which starts one (`child`, the pid it prints) and waits;
    `kill()` SIGKILLs the script. On `with` exit a child that outlived it is ended."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)
        self.child = int(self.proc.stdout.readline())
        time.sleep(0.5)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.proc.stdout.close()
        if process.alive(self.child):
            os.kill(self.child, signal.SIGKILL)


def _dead_pid():
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _marked(argv0, *marker):
    """A process that looks, by its command line, like one kvmnet started; no parent death
    signal, as if its starter had died before prctl."""
    return subprocess.Popen([argv0, "-c", "import time; time.sleep(600)", *marker],
                            executable=sys.executable, start_new_session=True)


def test_the_sweep_ends_processes_whose_starter_is_gone_and_only_those():
    """Stand-ins marked as a guest QEMU and a testpmd, one pair for a starter that is gone
    and one for this live process: the sweep ends the first pair only."""
    dead, me = _dead_pid(), os.getpid()
    procs = {
        "orphan QEMU": _marked("qemu-system-x86_64", "-name", f"{qemu.MARK}{dead}"),
        "orphan testpmd": _marked(testpmd.TESTPMD, f"--file-prefix={testpmd.PREFIX}{dead}-0"),
        "live QEMU": _marked("qemu-system-x86_64", "-name", f"{qemu.MARK}{me}"),
        "live testpmd": _marked(testpmd.TESTPMD, f"--file-prefix={testpmd.PREFIX}{me}-9999"),
    }
    try:
        deadline = time.monotonic() + 10
        while not {p.pid for p in procs.values()} <= set(qemu.running()) | set(testpmd.running()):
            assert time.monotonic() < deadline, "the stand-ins never showed their marks"
            time.sleep(0.05)
        qemu.sweep()
        testpmd.sweep()
        for name, proc in procs.items():
            assert (proc.poll() is None) == name.startswith("live"), name
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def _runtime_dir(name, leftovers):
    directory = testpmd.RUNTIME_DIR / name
    directory.mkdir(mode=0o700, parents=True)
    (directory / testpmd.LEFTOVERS).write_text("".join(f"{path}\n" for path in leftovers))
    return directory


@pytest.mark.needs_root
def test_the_sweep_removes_a_dead_testpmds_runtime_dir_and_the_files_it_lists(tmp_path):
    """A runtime dir whose starter is gone goes, with the socket and commands it lists; one
    whose starter lives stays."""
    dead, me = _dead_pid(), os.getpid()
    orphan = testpmd.RUNTIME_DIR / f"{testpmd.PREFIX}{dead}-0"
    live = testpmd.RUNTIME_DIR / f"{testpmd.PREFIX}{me}-9999"
    sock_path, commands = tmp_path / "vhost.sock", tmp_path / "testpmd.cmds"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
    commands.write_text("set fwd io\n")
    try:
        _runtime_dir(orphan.name, [sock_path, commands])
        _runtime_dir(live.name, [])
        testpmd.sweep()
        assert not orphan.exists() and not sock_path.exists() and not commands.exists()
        assert live.exists(), "a live starter's runtime dir was swept"
    finally:
        process.remove_tree(orphan)
        process.remove_tree(live)


def test_the_sweep_removes_perf_locks_of_controllers_that_are_gone(tmp_path):
    """A perf lock directory goes with its controller; a live controller's stays."""
    gone = tmp_path / f"kvmnet-perf-{_dead_pid()}-abc"
    kept = tmp_path / f"kvmnet-perf-{os.getpid()}-def"
    for locks in (gone, kept):
        locks.mkdir()
        (locks / "room").touch()
    assert sweep.perf_locks(tmp_path) == [str(gone)]
    assert kept.exists() and not gone.exists()
