"""The article's claims beside what this run measured: information for the reader of the
report, never a verdict (its figures come from another host, another decade of kernels).

    claims(medians) -> lines, medians keyed by figure name (kvmnet.perf.catalogue)
"""

from kvmnet.perf.catalogue import RUNNER_NAMES

# vhost paths in the order a claim about vhost-net falls back to: the kernel's own first.
_VHOST = (("vhost-net-bridge", "vhost-net"), ("vhost-user-bridge", "vhost-user (dpdk-testpmd)"))


def _vhost(medians, runner, figure):
    for path, label in _VHOST:
        name = f"guest.{runner}.virtio.{path}.{figure}"
        if name in medians:
            return label, medians[name]
    return None, None


def claims(medians):
    """One line per claim and runner: the article's figure, then this host's, or why this
    run could not put one beside it."""
    lines = []
    for runner in RUNNER_NAMES:
        label, vhost = _vhost(medians, runner, "round_trip")
        e1000 = medians.get(f"guest.{runner}.e1000.bridge.round_trip")
        said = "not measured"
        if vhost and e1000:
            lower = 1 - vhost / e1000
            said = (f"{label} {vhost:.0f} µs against e1000 {e1000:.0f} µs: {abs(lower):.0%} "
                    + ("lower" if lower >= 0 else "higher"))
        lines.append(f"vhost-net ~10% lower latency than e1000 | {runner}: {said}")
        label, vhost = _vhost(medians, runner, "to_peer.1514B")
        user = medians.get(f"guest.{runner}.virtio.bridge.to_peer.1514B")
        said = (f"{label} {vhost / user:.1f}x userspace virtio-net (guest to peer, 1514 B)"
                if vhost and user else "not measured")
        lines.append(f"vhost-net ~8x userspace virtio's throughput | {runner}: {said}")
    return lines
