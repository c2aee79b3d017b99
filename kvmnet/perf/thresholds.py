"""Floors and ceilings per figure, from a TOML file (stdlib tomllib):

    format = 1
    [defaults]
    min_effect = 0.05   # A/B: a change of the median smaller than this never fails
    max_spread = 0.5    # samples spread wider than this (IQR / median) cannot decide
    [figure."host.tap_write.60B"]
    floor = 100000      # in the figure's unit
    [figure."kvm.pio_exit"]
    ceiling = 400
    min_effect = 0.10

A file that is missing, unreadable, of another format, or names a key or figure that does
not exist is a ThresholdsError naming the file and the key, before anything is measured.
"""

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

FORMAT = 1
LIMIT_KEYS = ("floor", "ceiling", "min_effect", "max_spread")
DEFAULT = Path(__file__).with_name("thresholds.toml")


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Limits:
    floor: float | None = None
    ceiling: float | None = None
    min_effect: float = 0.05
    max_spread: float = 0.5


@dataclass(frozen=True)
class Thresholds:
    defaults: Limits
    figures: dict  # name -> Limits
    source: str

    def limits(self, name):
        return self.figures.get(name, self.defaults)

    @classmethod
    def load(cls, path, known):
        """The thresholds in path; known is every figure name the suite measures."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ThresholdsError(f"{path}: no such thresholds file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ThresholdsError(f"{path}: unreadable ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ThresholdsError(f"{path}: not TOML ({e})") from None
        if data.get("format") != FORMAT:
            raise ThresholdsError(f"{path}: key 'format' is {data.get('format')!r}; this "
                                  f"kvmnet reads format {FORMAT}")
        for key in data:
            if key not in ("format", "defaults", "figure"):
                raise ThresholdsError(f"{path}: unknown key {key!r}")
        defaults = _limits(path, "defaults", data.get("defaults", {}), Limits())
        figures = {}
        for name, table in data.get("figure", {}).items():
            if name not in known:
                raise ThresholdsError(f"{path}: figure.{name!r} names no figure kvmnet "
                                      f"measures (known: {', '.join(sorted(known))})")
            figures[name] = _limits(path, f"figure.{name!r}", table, defaults)
        return cls(defaults, figures, str(path))


def _limits(path, where, table, base):
    if not isinstance(table, dict):
        raise ThresholdsError(f"{path}: {where} is not a table")
    for key, value in table.items():
        if key not in LIMIT_KEYS:
            raise ThresholdsError(f"{path}: {where}.{key} is not one of {', '.join(LIMIT_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ThresholdsError(f"{path}: {where}.{key} = {value!r} is not a number >= 0")
    return replace(base, **{k: float(v) for k, v in table.items()})
