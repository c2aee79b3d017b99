"""Which processes are still about: what our tests of killed and interrupted runs look for."""

import os
import signal
from pathlib import Path

from kvmnet import process


def processes_mentioning(text, but_not=None):
    """Command lines of the live processes (zombies are not) that mention text, a path of
    one run's; those that also mention but_not (the pytest that started them) are left out."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and (but_not is None or but_not not in cmdline) \
                and process.alive(int(pid)):
            found.append(cmdline)
    return found


def sigint_as_at_a_terminal():
    """For Popen's preexec_fn: the child takes SIGINT as a shell at a terminal leaves it
    (the default action), for tests that send it a Ctrl-C. A run started in the background
    of a non-interactive shell (`make test &` in a script) ignores SIGINT (POSIX), and its
    children inherit that: the interrupted run would never end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
