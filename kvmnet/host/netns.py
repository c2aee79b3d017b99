"""Scratch network namespaces: the only place kvmnet puts a link or sends a frame.

Names are `kvmnet-<tag>-<pid>-<n>`: recognisable, unique per process (and so per xdist
worker), and carrying the creator's pid so that a later run can tell a namespace whose
creator was killed (`sweep`) from one still in use.
"""

import atexit
import itertools
import os
import re
import threading

from pyroute2 import IPRoute, netns as pr_netns

from kvmnet.process import alive
from kvmnet.syscall import check, lib

PREFIX = "kvmnet-"
NETNS_DIR = "/run/netns"
_NAME = re.compile(rf"^{PREFIX}[\w.]+-(\d+)-\d+$")
_counter = itertools.count()
_created = set()  # names this process made and has not removed


class Netns:
    """A network namespace this process created; a context manager that removes it."""

    def __init__(self, name):
        self.name = name

    @classmethod
    def create(cls, tag="main"):
        name = f"{PREFIX}{tag}-{os.getpid()}-{next(_counter)}"
        pr_netns.create(name)
        _created.add(name)
        return cls(name)

    @property
    def path(self):
        return os.path.join(NETNS_DIR, self.name)

    def ipr(self):
        """An rtnetlink socket inside this namespace (close it, or use `with`)."""
        return IPRoute(netns=self.name, flags=0, groups=0)

    def call(self, fn, *args):
        """fn(*args) on a thread that has entered this namespace; returns its result.

        setns() moves only the calling thread, so the process's own namespace is never
        left. Sockets and taps fn creates belong to this namespace for their lifetime.
        """
        outcome = {}

        def run():
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    check(lib.kvmnet_setns(fd, lib.CLONE_NEWNET), f"setns({self.name})")
                finally:
                    os.close(fd)
                outcome["value"] = fn(*args)
            except BaseException as e:  # handed to the caller's thread below
                outcome["error"] = e

        thread = threading.Thread(target=run, name=f"netns:{self.name}")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def sysctl(self, key, value):
        """Set sysctl key (e.g. 'net.ipv6.conf.all.disable_ipv6') inside this namespace.

        /proc/sys/net is per namespace, resolved for the thread that opens it.
        """
        path = "/proc/sys/" + key.replace(".", "/")

        def write():
            with open(path, "w") as f:
                f.write(str(value))

        self.call(write)

    def exists(self):
        return os.path.exists(self.path)

    def remove(self):
        """Remove the namespace; its links go with it. Already gone is fine."""
        _remove(self.name)
        _created.discard(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def __repr__(self):
        return f"Netns({self.name!r})"


def _remove(name):
    try:
        pr_netns.remove(name)
    except FileNotFoundError:
        pass


@atexit.register
def remove_created():
    """Remove every namespace this process created and still holds (any exit path)."""
    for name in list(_created):
        _remove(name)
        _created.discard(name)


def ours():
    """Names of every namespace kvmnet created that still exists, any process's."""
    return sorted(n for n in pr_netns.listnetns() if _NAME.match(n))


def creator(name: str) -> int:
    """The pid of the process that created kvmnet namespace `name`."""
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"{name!r} is not a kvmnet namespace name ({PREFIX}<tag>-<pid>-<n>)")
    return int(match.group(1))


def orphans():
    """Names of kvmnet namespaces whose creating process is gone: left by a killed run."""
    return [name for name in ours() if not alive(creator(name))]


def sweep():
    """Remove the orphans; return their names. Only root makes or removes namespaces, so
    a run that is not root leaves them to one that is."""
    if os.geteuid() != 0:
        return []
    removed = orphans()
    for name in removed:
        _remove(name)
    return removed
