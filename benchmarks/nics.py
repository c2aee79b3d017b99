"""NIC datapath rates, built-in VMM vs QEMU, per model, side by side in one run (medians).

    .venv/bin/python benchmarks/nics.py [--frames 20000] [--runs 3] [--models e1000,virtio]

For each runner x NIC model, on a tap port of a Linux bridge with a peer namespace: frames/s
and Gbit/s guest -> peer and peer -> guest at 64 and 1514 B, every frame verified by its
receiver, and (built-in VMM) exits per frame. The runners take turns, a round of every
stream each, so that a shared machine's load falls on both sides of a ratio alike;
builtin/qemu is the median of the ratios of each round. The tap-write ceiling, measured in
the same run, is the reference: no userspace backend on this host can beat it.
"""

import argparse
import statistics

from kvmnet.guest_image import build
from kvmnet.host.topology import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.ceiling import measure
from kvmnet.runners import RUNNERS, QemuRunner
from kvmnet.peer.streams import guest_to_peer, peer_to_guest, verified_rate
from kvmnet.runners.nics import MODELS, Nic, NicGuest

SIZES = (64, 1514)
GUEST_MAC = "02:6b:76:00:00:01"


def exits(guest):
    vcpu = getattr(guest, "exits", None)
    return sum(vcpu.values()) if vcpu is not None else None


def measure_round(runner, model, image, count, rates, per_frame):
    """One run of every stream on a fresh guest of runner; appends to rates and per_frame,
    {(direction, size): [...]}."""
    hdr = 12 if model.startswith("virtio") else 0
    with BridgeTopology.create("bench", vnet_hdr=hdr) as topo:
        peer = Peer.on(topo)
        with RUNNERS[runner]().start(image, nics=[Nic(model, GUEST_MAC, topo.taps[0])]) as guest:
            guest.channel.wait_hello(30)
            subject = NicGuest(guest, model, GUEST_MAC)
            for direction, stream in (("guest->peer", guest_to_peer),
                                      ("peer->guest", peer_to_guest)):
                for size in SIZES:
                    before = exits(guest)
                    rates.setdefault((direction, size), []).append(
                        verified_rate(stream, subject, peer, count, size))
                    if before is not None:
                        per_frame.setdefault((direction, size), []).append(
                            (exits(guest) - before) / count)


def measure_model(runners, model, image, count, runs):
    """{runner: {(direction, size): (median frames/s, exits per frame or None)}} and
    {(direction, size): median of the per-round builtin/qemu ratios}.

    The runners take turns: round k runs every stream on each runner (a fresh guest each)
    before round k + 1 starts, so that load from elsewhere on a shared machine falls on
    both sides of a ratio alike. (Not both guests at once: an idle guest polls its UART and
    keeps a core busy.)"""
    rates = {r: {} for r in runners}
    per_frame = {r: {} for r in runners}
    for _ in range(runs):
        for name in runners:
            measure_round(name, model, image, count, rates[name], per_frame[name])
    out = {r: {k: (statistics.median(v), statistics.median(per_frame[r][k])
                   if per_frame[r].get(k) else None) for k, v in rates[r].items()}
           for r in runners}
    ratios = {}
    if set(runners) == {"builtin", "qemu"}:
        ratios = {k: statistics.median(b / q for b, q in zip(rates["builtin"][k],
                                                             rates["qemu"][k]))
                  for k in rates["builtin"]}
    return out, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    image = build()
    runners = [n for n in sorted(RUNNERS) if n != "qemu" or QemuRunner.missing() is None]
    ceiling = {c.size: c.frames_per_s for c in measure(sizes=(64, 1514), count=200_000)}
    print("tap write ceiling (one write per frame, C): "
          + ", ".join(f"{s} B {r / 1e6:.2f} M frames/s" for s, r in ceiling.items()))
    print(f"\n{args.frames} frames per stream, median of {args.runs}, runners taking turns; "
          "k frames/s (Gbit/s) [exits per frame]; builtin/qemu: median of the per-round ratios")
    header = f"{'model':14} {'direction':12} {'size':>5} " + " ".join(f"{r:>26}" for r in runners)
    print(header + ("   builtin/qemu" if len(runners) == 2 else "") + "   builtin/ceiling")
    for model in args.models.split(","):
        results, ratios = measure_model(runners, model, image, args.frames, args.runs)
        for direction in ("guest->peer", "peer->guest"):
            for size in SIZES:
                cells, rates = [], {}
                for r in runners:
                    rate, per_frame = results[r][direction, size]
                    rates[r] = rate
                    extra = f" [{per_frame:.2f}]" if per_frame is not None else ""
                    cells.append(f"{rate / 1e3:8.1f} ({rate * size * 8 / 1e9:5.2f}){extra}")
                line = f"{model:14} {direction:12} {size:5} " + " ".join(f"{c:>26}" for c in cells)
                if ratios:
                    line += f"   {ratios[direction, size]:12.2f}"
                line += f"   {rates['builtin'] / ceiling[size]:14.3f}"
                print(line)


if __name__ == "__main__":
    main()
