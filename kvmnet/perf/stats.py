"""The statistic the A/B gate decides with: a permutation test on the difference of means
(as Firecracker's A/B gating does), written out so that it needs nothing but the stdlib."""

import random
import statistics

RESAMPLES = 9999


def permutation_p(a, b, resamples=RESAMPLES, seed=0):
    """Two-sided p-value of the difference of the means of samples a and b: the share of
    random relabellings of the pooled samples whose difference is at least as large as the
    one observed. Deterministic for a given seed."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a permutation test needs 2+ samples a side ({len(a)}, {len(b)})")
    observed = abs(statistics.fmean(a) - statistics.fmean(b))
    pooled, n = list(a) + list(b), len(a)
    total = sum(pooled)
    rng = random.Random(seed)
    extreme = 0
    for _ in range(resamples):
        rng.shuffle(pooled)
        head = sum(pooled[:n])
        if abs(head / n - (total - head) / (len(pooled) - n)) >= observed - 1e-12 * abs(observed):
            extreme += 1
    return (extreme + 1) / (resamples + 1)
