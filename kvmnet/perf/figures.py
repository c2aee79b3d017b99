"""A figure: one measured quantity as a set of samples, never a single number."""

import statistics
from dataclasses import dataclass, field

HIGHER, LOWER = "higher", "lower"  # which way is better


@dataclass
class Figure:
    """name is stable across runs and hosts (it keys thresholds and baselines), e.g.
    'host.tap_write.60B'; unit names what a sample counts; better says which way is good."""
    name: str
    unit: str
    better: str
    samples: list = field(default_factory=list)

    def __post_init__(self):
        if self.better not in (HIGHER, LOWER):
            raise ValueError(f"figure {self.name}: better is {HIGHER!r} or {LOWER!r}")

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def spread(self):
        """The samples' interquartile range relative to their median (0.1 = 10%)."""
        if len(self.samples) < 2 or not self.median:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return (q3 - q1) / abs(self.median)

    def worse(self, change):
        """Is a relative change of the median (new/old - 1) a change for the worse?"""
        return change < 0 if self.better == HIGHER else change > 0

    def to_json(self):
        return {"unit": self.unit, "better": self.better, "samples": list(self.samples)}

    @classmethod
    def from_json(cls, name, data):
        return cls(name, data["unit"], data["better"], [float(s) for s in data["samples"]])

    def __str__(self):
        return f"{self.name}: median {fmt(self.median)} {self.unit} (spread {self.spread:.0%}, " \
               f"{len(self.samples)} samples)"


def fmt(value):
    """A figure's value as a person reads it: 3 significant digits, k/M for large ones."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"
