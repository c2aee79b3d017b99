"""Debian packages fetched with `apt-get download` into a cache, keyed by name and version.

A package is downloaded once: the cache holds `<name>_<version>.deb` and its extracted tree,
so a second run with the same candidate version neither downloads nor unpacks again.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from kvmnet.lab.errors import LabInputError

PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def candidate_version(name):
    """The version `apt-get download name` would fetch; LabInputError if there is none."""
    version = _policy_version(name)
    if version is None and os.geteuid() == 0:
        # A machine whose package lists were never fetched knows no package at all.
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        version = _policy_version(name)
    if version is None:
        raise LabInputError(f"Debian package {name!r}: the archive has no such package "
                            "(apt-cache policy finds no candidate)")
    return version


def _policy_version(name):
    done = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True)
    found = re.search(r"^\s*Candidate:\s*(\S+)", done.stdout, re.MULTILINE)
    if done.returncode or not found or found.group(1) == "(none)":
        return None
    return found.group(1)


def fetch(name, cache):
    """The path of the cached .deb of name's candidate version, downloading it if absent."""
    if not PACKAGE_NAME.match(name):
        raise LabInputError(f"{name!r} is not a Debian package name")
    version = candidate_version(name)
    debs = Path(cache) / "debs"
    deb = debs / f"{name}_{version.replace(':', '%3a')}.deb"
    if deb.exists():
        return deb
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="download-", dir=debs) as scratch:
        done = subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
                               f"{name}={version}"], cwd=scratch, capture_output=True,
                              text=True)
        got = list(Path(scratch).glob("*.deb"))
        if done.returncode or len(got) != 1:
            raise LabInputError(f"apt-get download {name}={version} failed:\n"
                                f"{done.stdout}{done.stderr}")
        got[0].rename(deb)
    return deb


def extract(deb, into):
    """Unpack deb's files into the directory `into` (made anew); returns it."""
    into = Path(into)
    if into.is_dir():
        return into
    into.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="extract-", dir=into.parent))
    try:
        done = subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)],
                              capture_output=True, text=True)
        if done.returncode:
            raise LabInputError(f"{deb}: not a readable Debian package "
                                f"(dpkg-deb -x: {done.stderr.strip()})")
        try:
            scratch.rename(into)
        except OSError:
            if not into.is_dir():
                raise  # else another run unpacked the same package first
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return into


def unpacked(name, cache):
    """The extracted tree of package name's candidate version, fetched and unpacked once."""
    deb = fetch(name, cache)
    return extract(deb, Path(cache) / "trees" / deb.stem), deb.stem
