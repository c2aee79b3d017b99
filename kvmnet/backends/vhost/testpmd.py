"""DPDK's dpdk-testpmd as a real vhost-user backend, inside a scratch namespace.

    pmd = Testpmd.start(netns, socket_path, log_path, bridge="br0")
    ...                      # a frontend connects to pmd.socket_path
    pmd.check()              # raises TestpmdFailed (with its log) unless healthy
    pmd.kill()               # SIGKILL: the backend "going away"
    pmd.stop()               # clean exit; also on `with` exit, atexit, and parent death

Two ports, forwarded to each other by one lcore in `io` mode: net_vhost0 (the vhost-user
server socket) and net_tap0, a tap interface the PMD creates in `netns` (and that `bridge`,
when given, takes as a port), so frames from a guest's virtio rings come out of that tap and
frames into the tap go to the guest. It runs without hugepages (`--no-huge -m 1024`, 8192
mbufs), without PCI, with its runtime files under a per-instance --file-prefix that stop()
removes. The lcore retries a transmit the vhost port refuses (a guest out of RX buffers,
or rings the VMM has taken back) for up to `tx_hold_ms` before dropping it.

It is started through nsenter (and stdbuf, so its log is written as it goes), so its taps
are made in the namespace, with stdin a pipe this process holds: testpmd exits when it
reads EOF, and stop() needs no signal. It dies with this process all the same, SIGKILL
included (kvmnet.process.start). The package is Debian's `dpdk-dev` (dpdk-testpmd) with the
`dpdk` runtime and its PMDs.

Its marker is its --file-prefix, `kvmnet-<pid>-<n>` (the pid of the process that started
it): on its command line, and the name of its DPDK runtime directory, which also lists the
files a killed run would leave (its socket, its commands, a log made for it): so `sweep`
finds a killed run's testpmds and everything they left from the one name.
"""

import atexit
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from kvmnet import process

TESTPMD = "dpdk-testpmd"
RUNTIME_DIR = Path("/var/run/dpdk")
PREFIX = "kvmnet-"
_counter = itertools.count()
_running = set()
_PREFIX_NAME = re.compile(rf"^{PREFIX}(\d+)-\d+$")
_PREFIX_ARG = re.compile(rf"^--file-prefix={PREFIX}(\d+)-\d+$")
# What its log says once a frontend's rings are ready, and then once the port is up.
DEVICE_READY, LINK_CHANGE = "virtio is now ready for processing", "link state change event"
LEFTOVERS = "kvmnet-leftovers"  # in the runtime directory: files to remove if swept


class TestpmdUnavailable(RuntimeError):
    """dpdk-testpmd is not installed (the message names the package)."""


class TestpmdFailed(RuntimeError):
    """testpmd did not start, or is no longer healthy; the message ends with its log."""


def missing():
    """Why testpmd cannot run here, or None."""
    if shutil.which(TESTPMD) is None:
        return f"{TESTPMD} not found: install Debian's dpdk-dev (and dpdk, its runtime)"
    if os.geteuid() != 0:
        return f"{TESTPMD} needs root (it creates a tap and maps guest memory)"
    return None


class Testpmd:
    def __init__(self, netns, socket_path, log_path, tap_name, proc, prefix, control):
        self.netns, self.socket_path, self.log_path = netns, Path(socket_path), Path(log_path)
        self.tap_name, self.proc, self.prefix = tap_name, proc, prefix
        self._control = control  # testpmd's stdin: closing it ends testpmd
        self.exit_status = None

    @classmethod
    def start(cls, netns, socket_path, log_path=None, tap_name="dtap0", bridge=None,
              lcores=None, tx_hold_ms=500, timeout=30.0):
        """testpmd in netns serving vhost-user on socket_path, its tap `tap_name` (a port of
        `bridge` in netns when given); waits until it is forwarding. Raises TestpmdFailed.
        lcores: DPDK's --lcores; by default the main lcore on CPU 0 and the forwarding one
        on CPU 1, or both on CPU 0 on a one-CPU machine (the kernel lab)."""
        lcores = lcores or ("0@0,1@1" if (os.cpu_count() or 1) > 1 else "0@0,1@0")
        reason = missing()
        if reason:
            raise TestpmdUnavailable(reason)
        prefix = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        socket_path = Path(socket_path)
        if socket_path.exists():
            socket_path.unlink()
        made_log = log_path is None
        log_path = Path(log_path or tempfile.mkstemp(prefix=f"{prefix}-", suffix=".log")[1])
        commands = log_path.with_suffix(".cmds")
        _record_leftovers(prefix, [socket_path, commands] + ([log_path] if made_log else []))
        # 100 us between tries: tx_hold_ms * 10 tries.
        commands.write_text(f"set fwd io retry\nset burst tx delay 100 retry {tx_hold_ms * 10}\n")
        argv = ["nsenter", f"--net={netns.path}", "--", "stdbuf", "-oL", TESTPMD, "--lcores", lcores, "--no-huge",
                "-m", "1024", "--no-pci", "--no-shconf", f"--file-prefix={prefix}",
                "--vdev", f"net_vhost0,iface={socket_path},queues=1",
                "--vdev", f"net_tap0,iface={tap_name}",
                "--", "--total-num-mbufs=8192", "--nb-cores=1", "--rxq=1", "--txq=1",
                "--disable-link-check", "--no-lsc-interrupt", f"--cmdline-file={commands}"]
        read_end, write_end = os.pipe()
        with open(log_path, "wb") as log:
            try:
                proc = process.start(argv, stdin=read_end, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            finally:
                os.close(read_end)
        pmd = cls(netns, socket_path, log_path, tap_name, proc, prefix, write_end)
        _running.add(pmd)
        try:
            pmd._wait_ready(timeout)
            if bridge:
                pmd._join_bridge(bridge)
        except BaseException:
            pmd.stop()
            raise
        return pmd

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestpmdFailed(f"testpmd exited with status {self.proc.returncode} "
                                    f"while starting; its log:\n{self.log_text()}")
            if self.socket_path.exists() and "Press enter to exit" in self.log_text():
                return
            time.sleep(0.05)
        raise TestpmdFailed(f"testpmd not forwarding after {timeout} s; its log:\n"
                            + self.log_text())

    def _join_bridge(self, bridge):
        with self.netns.ipr() as ipr:
            index = ipr.link_lookup(ifname=self.tap_name)
            master = ipr.link_lookup(ifname=bridge)
            if not index or not master:
                raise TestpmdFailed(f"no {self.tap_name} or {bridge} in {self.netns.name}")
            ipr.link("set", index=index[0], master=master[0], state="up")

    @property
    def alive(self):
        return self.proc.poll() is None

    def check(self):
        """Raise TestpmdFailed unless the process runs and its socket is there."""
        if not self.alive:
            raise TestpmdFailed(f"testpmd exited with status {self.proc.returncode}; its "
                                f"log:\n{self.log_text()}")
        if not self.socket_path.exists():
            raise TestpmdFailed(f"testpmd's socket {self.socket_path} is gone; its log:\n"
                                + self.log_text())

    def wait_device_ready(self, timeout: float) -> bool:
        """Whether, within timeout seconds, DPDK says a frontend's rings are ready and the
        vhost port's link came up after it (its queues are polled from then on). A frontend
        that streams at once can otherwise find its first ring full for a second on a
        loaded host while testpmd's control thread catches up."""
        deadline = time.monotonic() + timeout
        while self.alive:
            log = self.log_text()
            ready = log.find(DEVICE_READY)
            if ready >= 0 and LINK_CHANGE in log[ready:]:
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return False

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self):
        """SIGKILL, as a crash would: the backend goes away without a word."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=10.0):
        """End testpmd (EOF on its stdin, then SIGTERM, then SIGKILL), remove its socket and
        runtime files. Returns its exit status. Idempotent."""
        if self._control >= 0:
            os.close(self._control)
            self._control = -1
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_status = self.proc.returncode
        _running.discard(self)
        for path in (self.socket_path, self.log_path.with_suffix(".cmds")):
            if path.exists():
                path.unlink()
        shutil.rmtree(RUNTIME_DIR / self.prefix, ignore_errors=True)
        return self.exit_status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"Testpmd(pid {self.proc.pid} in {self.netns.name}, {self.socket_path})"


@atexit.register
def stop_all():
    """Stop every testpmd this process started and still runs (any exit path)."""
    for pmd in list(_running):
        pmd.stop(timeout=3)


def _record_leftovers(prefix, paths):
    """Make testpmd's runtime directory (DPDK takes it as it is) and list in it the files
    that its starter's death would leave behind."""
    directory = RUNTIME_DIR / prefix
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / LEFTOVERS).write_text("".join(f"{os.path.abspath(path)}\n" for path in paths))


def _starter(argv):
    """The starter's pid that a testpmd's `--file-prefix=kvmnet-<pid>-<n>` names, or None."""
    for arg in argv:
        marked = _PREFIX_ARG.match(arg)
        if marked:
            return int(marked.group(1))
    return None


def running() -> dict:
    """{pid: starter pid} of every testpmd kvmnet started on this host (any run's)."""
    return process.running(_starter)


def runtime_dirs() -> dict:
    """{runtime directory: starter pid} of every testpmd kvmnet started (any run's)."""
    if not RUNTIME_DIR.is_dir() or not os.access(RUNTIME_DIR, os.R_OK | os.X_OK):
        return {}  # none, or root's (0700): not this user's to sweep
    return {entry: int(match.group(1)) for entry in RUNTIME_DIR.iterdir()
            if (match := _PREFIX_NAME.match(entry.name))}


def sweep() -> list:
    """Kill the testpmds whose starter is gone (a killed run's), then remove the runtime
    directories such starters left and the files each lists (socket, commands, log);
    return what went: pids, then paths."""
    removed = [str(pid) for pid in process.kill_orphans(_starter)]
    for directory, starter in runtime_dirs().items():
        if not process.alive(starter) and process.owned(directory):
            removed += _remove_leftovers(directory)
    return removed


def _remove_leftovers(directory):
    removed = []
    try:
        listed = (directory / LEFTOVERS).read_text().splitlines()
    except FileNotFoundError:  # made by a kvmnet that kept no list
        listed = []
    for path in map(Path, listed):
        try:
            path.unlink()
            removed.append(str(path))
        except FileNotFoundError:
            pass
    process.remove_tree(directory)
    return removed + [str(directory)]
