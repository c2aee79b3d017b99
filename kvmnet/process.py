"""Processes this suite starts, and telling whether the one that started a resource lives.

Every long-lived process the suite starts (a QEMU guest, dpdk-testpmd; the lab machine does
the same in kvmnet.lab.machine) is started by `start`, which makes the kernel SIGKILL it
when its starter dies, however that dies (SIGKILL included, when no teardown and no atexit
runs): PR_SET_PDEATHSIG, set in the child between fork and exec. The kernel sends that
signal when the *thread* that forked exits, not the process; so `start` forks on the main
thread (where pytest and pytest-xdist workers run tests), and, called from any other
thread, on one kept for the purpose that lives as long as the process: a helper thread that
returned would take its children along.

Each such process also names its starter's pid on its command line, in a marker its module
defines (`-name kvmnet-guest-<pid>` for QEMU, `--file-prefix=kvmnet-<pid>-<n>` for testpmd,
`-name kvmnet-lab-<pid>` for the lab): `running` finds them by it and `kill_orphans` kills
those whose starter is gone (a later run's sweep, kvmnet.sweep), for what the parent-death
signal does not reach: the kernel clears it when a child executes a set-user-ID or
file-capability binary or changes its credentials. A marker on the command line rather than
in the environment: anyone may read a command line (a run that is not root finds its
QEMUs), and `ps` shows whose a process is. If a dead starter's pid has been reused by
another process, what it left stays until a later run: the safe direction.
"""

import concurrent.futures
import ctypes
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Optional

PR_SET_PDEATHSIG = 1
Marker = Callable[[list], Optional[int]]  # argv -> the starter pid it names, or None
_libc = ctypes.CDLL(None, use_errno=True)
_lasting = None
_lasting_lock = threading.Lock()


def alive(pid: int) -> bool:
    """Does process pid still run (whoever owns it)? A zombie does not: it has ended and
    waits to be reaped, and an orphan's reaper (init; a container's may be slow) is not ours.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except PermissionError:  # /proc mounted hidepid: it exists
        return True
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def start(argv: list, **popen_options) -> subprocess.Popen:
    """subprocess.Popen(argv, **popen_options) whose process the kernel kills (SIGKILL)
    when this process dies; from any thread (see the module's docstring)."""
    def spawn():
        return subprocess.Popen(argv, preexec_fn=_die_with(os.getpid()), **popen_options)

    if threading.current_thread() is threading.main_thread():
        return spawn()
    return _lasting_thread().call(spawn)


def _die_with(starter):
    """The preexec function: PR_SET_PDEATHSIG(SIGKILL), and exit at once if the starter
    died before that took effect (the child is then init's, and no signal will come)."""
    def arrange():
        if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG, SIGKILL) failed")
        if os.getppid() != starter:
            os._exit(1)
    return arrange


class _LastingThread:
    """A daemon thread that runs what it is handed and never returns before the process
    ends: the parent, for the kernel, of what other threads start."""

    def __init__(self):
        self._calls = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="kvmnet-starter", daemon=True)
        self.thread.start()

    def call(self, fn):
        """fn() on this thread; its result, or its exception raised here."""
        done = concurrent.futures.Future()
        self._calls.put((fn, done))
        return done.result()

    def _serve(self):
        while True:
            fn, done = self._calls.get()
            try:
                done.set_result(fn())
            except BaseException as e:  # handed to the caller's thread
                done.set_exception(e)


def _lasting_thread():
    global _lasting
    with _lasting_lock:
        if _lasting is None or not _lasting.thread.is_alive():  # none yet, or a forked child
            _lasting = _LastingThread()
        return _lasting


def running(marker: Marker) -> dict:
    """{pid: starter pid} of every process whose command line carries marker's mark."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            starter = marker(_argv(entry))
            if starter is not None:
                found[int(entry.name)] = starter
    return found


def _argv(entry):
    try:
        raw = (entry / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):  # it ended while we looked
        return []
    return raw.decode(errors="surrogateescape").split("\0")[:-1]


def kill_orphans(marker: Marker, timeout: float = 5.0) -> list:
    """SIGKILL every process marked by marker whose starter is gone and that this user
    owns (another user's is not ours to end); return their pids once they are dead (or
    timeout has passed)."""
    killed = []
    for pid, starter in running(marker).items():
        if not alive(starter) and owned(Path(f"/proc/{pid}")):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(pid)
    _wait_ended(killed, timeout)
    return killed


def _wait_ended(pids, timeout):
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def owned(path: Path) -> bool:
    """Is path (a file, or a process's /proc entry) this user's to remove? Root's: all."""
    try:
        return os.geteuid() == 0 or path.stat().st_uid == os.geteuid()
    except FileNotFoundError:
        return False


def remove_tree(path: Path) -> None:
    """Remove directory path and what it holds. Already gone, or part of it (another run's
    sweep at the same moment), is fine; any other failure is raised."""
    def unless_gone(function, failed, exc_info):
        if not issubclass(exc_info[0], FileNotFoundError):
            raise exc_info[1]
    shutil.rmtree(path, onerror=unless_gone)
