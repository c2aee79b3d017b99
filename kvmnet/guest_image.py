"""The suite's guest image, built from guestimg/ into a cache keyed by its sources.

Building is reproducible (guestimg/Makefile), so one digest of the sources names one image;
parallel builders (xdist workers) each build into a temporary directory and rename it into
place, the first one winning.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[1] / "guestimg"
CACHE = Path(os.environ.get("KVMNET_CACHE", SOURCES.parent / "build")) / "guest"
IMAGE_NAME = "kvmnet-guest.bin"


class GuestBuildError(RuntimeError):
    """The guest image could not be built; the message holds the compiler's output."""


def source_digest():
    h = hashlib.sha256()
    for path in sorted(SOURCES.iterdir()):
        if path.suffix in (".c", ".h", ".S", ".ld") or path.name == "Makefile":
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build(faults=()):
    """The path of the image for the current sources, building it if not cached.
    faults: test-only fault switches of the guest's drivers (guestimg/README.md), e.g.
    ("RTL8139_JUMBO",); such an image is cached apart from the real one."""
    faults = sorted(faults)
    if not all(f.isidentifier() for f in faults):
        raise ValueError(f"fault switch names are C identifiers: {faults}")
    target = CACHE / "-".join([source_digest()] + faults)
    image = target / IMAGE_NAME
    if image.exists():
        return image
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="building-", dir=CACHE))
    try:
        done = subprocess.run(["make", "-s", "-C", str(SOURCES), f"O={scratch}",
                               f"FAULTS={' '.join(faults)}"],
                              capture_output=True, text=True)
        if done.returncode:
            raise GuestBuildError(f"building the guest image failed:\n{done.stdout}{done.stderr}")
        for leftover in scratch.iterdir():
            if leftover.name != IMAGE_NAME:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        try:
            scratch.rename(target)
        except OSError:
            pass  # another process built it first; theirs is byte-for-byte the same
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return image


if __name__ == "__main__":  # scripts/setup.sh builds it ahead of the first run
    print(build())
