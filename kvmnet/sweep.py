"""What killed runs left on this host, removed: once at the start of every run, by its
controller (fixtures/plugin.py), whatever the run selects.

A run that ends, Ctrl-C included, removes what it made. One killed outright (SIGKILL to the
controller and its xdist workers, the OOM killer) cannot: its processes die with it
(kvmnet.process.start), but its namespaces, DPDK runtime directories, vhost-user sockets
and temporary directories stay, and so would a process that the parent-death signal
missed. Two runs may be going at once on one host, so nothing is recognised by a broad name
such as `kvmnet-*`: each resource carries the pid of the process that made it in a marker,
and goes only once that process is gone (kvmnet.process.alive):

    guest QEMUs    argv `-name kvmnet-guest-<pid>`                     kvmnet.runners.qemu
    testpmds       argv `--file-prefix=kvmnet-<pid>-<n>`; the runtime  kvmnet.backends.vhost.testpmd
                   directory of that name, and the files it lists
                   (vhost-user socket, commands, a log made for it)
    lab machines   argv `-name kvmnet-lab-<pid>`                       kvmnet.lab.machine
    namespaces     /run/netns/kvmnet-<worker>-<pid>-<n>                kvmnet.host.netns
    perf locks     <tmp>/kvmnet-perf-<pid>-* (a controller's,          here
                   fixtures/perf.py)

Processes go first, so that what they hold (a namespace's taps, a socket) is let go before
the rest is removed. Only this user's are touched; namespaces only by root.
"""

import re
import tempfile
from pathlib import Path

from kvmnet import lab, process
from kvmnet.host import netns
from kvmnet.runners import qemu
from kvmnet.backends.vhost import testpmd

PERF_LOCKS = re.compile(r"^kvmnet-perf-(\d+)-")


def sweep() -> dict:
    """Remove what killed runs left on this host; {kind: what went}, kinds with nothing
    left out (an empty dict when the host was clean)."""
    swept = {
        "guest QEMUs": qemu.sweep(),
        "testpmds": testpmd.sweep(),
        "lab machines": lab.sweep(),
        "namespaces": netns.sweep(),
        "perf locks": perf_locks(),
    }
    return {kind: gone for kind, gone in swept.items() if gone}


def perf_lock_dirs(directory: Path | None = None) -> dict:
    """{path: controller pid} of every run's perf lock directory (any run's)."""
    directory = Path(directory or tempfile.gettempdir())
    return {path: int(match.group(1)) for path in directory.iterdir()
            if (match := PERF_LOCKS.match(path.name))}


def perf_locks(directory: Path | None = None) -> list:
    """Remove the perf lock directories whose controller is gone; return their paths."""
    removed = []
    for path, controller in perf_lock_dirs(directory).items():
        if not process.alive(controller) and process.owned(path):
            process.remove_tree(path)
            removed.append(str(path))
    return removed
