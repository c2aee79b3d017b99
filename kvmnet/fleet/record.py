"""What the Ansible role writes on the controller, step by step (each step one call of
`python -m kvmnet.fleet`, so that a host's gate costs few Ansible tasks): the fleet's
directory and checkout once a wave, each host's status as it goes, and its results once
fetched. The layout is in kvmnet/fleet/__init__.py.
"""

import json
import os
import shutil
import tarfile
from pathlib import Path

from kvmnet.fleet import bundle, hosts

CHECKOUT = "kvmnet-checkout.tar.gz"
RESULTS_PACK = "results.tgz"
BASELINE = "baseline.json"  # a host's lasting file: the figures of its last run that passed
FIGURES = "figures.json"


def prepare(results: Path, checkout: Path, names: list[str]) -> int:
    """The fleet's results directory (never committed), its host list and the checkout the
    hosts install; returns how many files that holds."""
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    (results / ".gitignore").write_text("*\n")
    _write_json(results / hosts.FLEET, {"hosts": list(names)})
    return bundle.bundle(checkout, results / CHECKOUT)


def forget(results: Path):
    """Remove what the last run left in results (every host's files but its baseline, the
    host list, the merged results), so that a host this run never reaches cannot show an
    old verdict."""
    results = Path(results)
    if not results.is_dir():
        return
    (results / hosts.FLEET).unlink(missing_ok=True)
    shutil.rmtree(results / hosts.MERGED, ignore_errors=True)
    for status in results.glob(f"*/{hosts.STATUS}"):
        _clear(status.parent)


def begin(results: Path, name: str, fields: dict):
    """Host name's directory emptied of its last run (its baseline kept), and its status
    started afresh with fields."""
    directory = Path(results, name)
    directory.mkdir(parents=True, exist_ok=True)
    _clear(directory)
    _write_json(directory / hosts.STATUS, {"host": name} | fields)


def update(results: Path, name: str, fields: dict) -> dict:
    """Host name's status with fields set; returns it."""
    path = Path(results, name, hosts.STATUS)
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        status = {"host": name}
    status |= fields
    _write_json(path, status)
    return status


def finish(results: Path, name: str, fields: dict) -> dict:
    """Unpack the results fetched from host name (results.tgz) into its directory, set
    fields in its status; when its run passed the gate (exit 0) its figures become its
    baseline. Returns the status."""
    directory = Path(results, name)
    pack = directory / RESULTS_PACK
    if pack.exists():
        _unpack(pack, directory)
        pack.unlink()
    status = update(results, name, fields)
    if status.get("exit") == 0 and (directory / FIGURES).is_file():
        partial = directory / f"{BASELINE}.partial"
        shutil.copyfile(directory / FIGURES, partial)
        os.replace(partial, directory / BASELINE)
    return status


def _unpack(pack, directory):
    """Extract pack's files and directories into directory; anything else, or a name that
    would land outside it, is refused (what a host sends is not trusted to write elsewhere)."""
    with tarfile.open(pack) as tar:
        members = tar.getmembers()
        for member in members:
            parts = Path(member.name).parts
            if (not (member.isfile() or member.isdir()) or Path(member.name).is_absolute()
                    or ".." in parts):
                raise ValueError(f"{pack}: refusing {member.name!r}")
        tar.extractall(directory, members)


def _clear(directory):
    for path in directory.iterdir():
        if path.name == BASELINE:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _write_json(path, value):
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
