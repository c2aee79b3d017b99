"""The verdicts on a figure: its thresholds, and the A/B comparison with the baseline.

A figure regresses only when its change is both significant (permutation test, p < ALPHA)
and larger than its minimum effect, in the worse direction; an improvement is reported,
never failed. Samples spread wider than the figure's max_spread decide nothing: that is a
verdict of its own ("too noisy"), never a silent pass.
"""

from dataclasses import dataclass

from kvmnet.perf.figures import Figure, fmt
from kvmnet.perf.stats import permutation_p
from kvmnet.perf.thresholds import Limits

ALPHA = 0.01
REGRESSION, IMPROVEMENT, UNCHANGED = "regression", "improvement", "unchanged"


@dataclass(frozen=True)
class Comparison:
    figure: Figure
    baseline: Figure
    change: float  # new median / baseline median - 1
    p: float
    verdict: str

    def __str__(self):
        return (f"{self.figure.name}: baseline median {fmt(self.baseline.median)}, new median "
                f"{fmt(self.figure.median)} {self.figure.unit}, change {self.change:+.1%}, "
                f"p={self.p:.4f}")


def breaches(figure, limits: Limits):
    """What figure's median breaches of its floor and ceiling, each said in full."""
    said = []
    if limits.floor is not None and figure.median < limits.floor:
        said.append(f"{figure.name}: median {fmt(figure.median)} {figure.unit} (spread "
                    f"{figure.spread:.0%}) is below its floor {fmt(limits.floor)}")
    if limits.ceiling is not None and figure.median > limits.ceiling:
        said.append(f"{figure.name}: median {fmt(figure.median)} {figure.unit} (spread "
                    f"{figure.spread:.0%}) is above its ceiling {fmt(limits.ceiling)}")
    return said


def too_noisy(figure, limits: Limits):
    if figure.spread > limits.max_spread:
        return (f"{figure.name}: samples too noisy to decide: spread {figure.spread:.0%} of "
                f"the median, over its limit {limits.max_spread:.0%}")
    return None


def compare(figure, baseline, limits: Limits, alpha=ALPHA):
    """The Comparison of figure with the same figure in the baseline."""
    change = figure.median / baseline.median - 1 if baseline.median else 0.0
    p = permutation_p(figure.samples, baseline.samples)
    if p < alpha and abs(change) > limits.min_effect:
        verdict = REGRESSION if figure.worse(change) else IMPROVEMENT
    else:
        verdict = UNCHANGED
    return Comparison(figure, baseline, change, p, verdict)
