"""A run's figures in a JSON file, every sample kept, with the identity of the host that
measured them: what the next run (the new kernel's) is compared with.

    {"format": 1, "identity": {"kernel": ..., "cpu_model": ..., "cores": ...},
     "figures": {"host.tap_write.60B": {"unit": "frames/s", "better": "higher",
                                        "samples": [...]}, ...}}
"""

import json
from dataclasses import dataclass
from pathlib import Path

from kvmnet.perf.figures import Figure

FORMAT = 1
# A baseline from a host that differs in these cannot say what a kernel changed.
COMPARABLE = ("cpu_model", "cores")


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Baseline:
    identity: dict
    figures: dict  # name -> Figure
    source: str

    def incomparable(self, identity):
        """Why this baseline's host cannot stand for the host of identity, or None."""
        for key in COMPARABLE:
            if self.identity.get(key) != identity.get(key):
                return (f"the baseline {self.source} was measured on another host: {key} "
                        f"{self.identity.get(key)!r}, here {identity.get(key)!r}")
        return None


def write(path, figures, identity):
    data = {"format": FORMAT, "identity": identity,
            "figures": {f.name: f.to_json() for f in sorted(figures, key=lambda f: f.name)}}
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def read(path, known):
    """The Baseline in path; known is every figure name the suite measures."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such baseline file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"{path}: unreadable as JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise BaselineError(f"{path}: key 'format' is {found!r}; this kvmnet reads format "
                            f"{FORMAT}")
    figures = {}
    for name, entry in data.get("figures", {}).items():
        if name not in known:
            raise BaselineError(f"{path}: figures.{name!r} names no figure kvmnet measures")
        try:
            figures[name] = Figure.from_json(name, entry)
        except (KeyError, TypeError, ValueError) as e:
            raise BaselineError(f"{path}: figures.{name!r} is malformed ({e!r})") from None
    return Baseline(dict(data.get("identity", {})), figures, str(path))
