"""The running kernel's build configuration, where the kernel exposes it."""

import gzip
import os

SOURCES = ("/proc/config.gz", f"/boot/config-{os.uname().release}")


def option(name):
    """'y', 'm' or a value for a set option; 'n' if not set; None if no config is readable."""
    for path in SOURCES:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1]
        return "n"
    return None
