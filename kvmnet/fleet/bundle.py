"""The checkout as each host of a fleet installs it: one tarball of its sources.

The files are those git would track, the working tree's (committed or not, untracked ones
too, ignored ones never): what a newcomer's clone plus the local edits hold, and nothing
built (.venv, build/, results). Outside a git checkout, every file but the generated ones.
"""

import os
import subprocess
import tarfile
from pathlib import Path

# What never goes to a host when the checkout is not a git one (.gitignore says the same).
GENERATED = {".git", ".venv", "build", "allure-results", "allure-report", "lab-results",
             "fleet-results", "fleet-report", "__pycache__", ".pytest_cache",
             "kvmnet-figures.json"}
_GENERATED_SUFFIXES = (".egg-info", ".so", ".o", ".pyc")


def sources(checkout: Path) -> list[str]:
    """The checkout's files, relative to it, sorted."""
    checkout = Path(checkout)
    try:
        listed = subprocess.run(
            ["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(_walk(checkout))
    names = {n for n in listed.decode().split("\0") if n}
    # A file deleted in the working tree is still listed by --cached.
    return sorted(n for n in names if (checkout / n).is_file() or (checkout / n).is_symlink())


def _walk(checkout):
    for directory, dirs, files in os.walk(checkout):
        dirs[:] = [d for d in dirs if d not in GENERATED and not d.endswith(_GENERATED_SUFFIXES)]
        for name in files:
            if name not in GENERATED and not name.endswith(_GENERATED_SUFFIXES):
                yield str(Path(directory, name).relative_to(checkout))


def bundle(checkout: Path, out: Path) -> int:
    """Write the checkout's sources to the gzipped tarball out (atomically); returns how
    many files it holds."""
    checkout, out = Path(checkout), Path(out)
    names = sources(checkout)
    if not any(n == "scripts/setup.sh" for n in names):
        raise ValueError(f"{checkout} is not a kvmnet checkout (no scripts/setup.sh)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for name in names:
            tar.add(checkout / name, arcname=name, recursive=False)
    partial.replace(out)
    return len(names)
