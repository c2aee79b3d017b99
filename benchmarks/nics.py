"""NIC datapath rates, built-in VMM vs QEMU, per model, side by side in one run (medians).

    .venv/bin/python benchmarks/nics.py [--frames 20000] [--runs 3] [--models e1000,virtio]

For each runner x NIC model, on a tap port of a Linux bridge with a peer namespace: frames/s
and Gbit/s guest -> peer and peer -> guest at 64 and 1514 B, every frame verified by its
receiver and timed by the peer's C clock (first frame to the last one's arrival), and
(built-in VMM) exits per frame. The runners take turns, a round of every stream each, so
that a shared machine's load falls on both sides of a ratio alike; builtin/qemu is the
median of the ratios of each round.

Two references, measured in the same run: the tap-write ceiling (one write() per frame
into a tap, what no userspace backend can beat), and the path ceiling ("path": the same
streams between the peer and C on the guest's tap, what the bridge carries on this host's
cores when the guest and its VMM cost nothing); builtin/path is the median of per-round
ratios too.
"""

import argparse
import statistics

from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.ceiling import measure, path_ceiling
from kvmnet.runners import RUNNERS, QemuRunner
from kvmnet.peer.streams import guest_to_peer, peer_to_guest, verified_rate
from kvmnet.runners.nics import MODELS, Nic, NicGuest

SIZES = (64, 1514)
GUEST_MAC = "02:6b:76:00:00:01"


def exits(guest):
    vcpu = getattr(guest, "exits", None)
    return sum(vcpu.values()) if vcpu is not None else None


def measure_round(runner, model, image, count, rates, per_frame):
    """One run of every stream on a fresh guest of runner (runner "path": the path ceiling
    on the same topology, no guest); appends to rates and per_frame,
    {(direction, size): [...]}."""
    hdr = 12 if model.startswith("virtio") else 0
    with BridgeTopology.create("bench", vnet_hdr=hdr) as topo:
        peer = Peer.on(topo)
        if runner == "path":
            for size in SIZES:
                out, back = path_ceiling(peer, topo.taps[0], GUEST_MAC, size, count)
                rates.setdefault(("guest->peer", size), []).append(out.frames_per_s)
                rates.setdefault(("peer->guest", size), []).append(back.frames_per_s)
            return
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
    {qemu or path: {(direction, size): median of the per-round builtin/them ratios}}.

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
    ratios = {other: {k: statistics.median(b / o for b, o in zip(rates["builtin"][k],
                                                                 rates[other][k]))
                      for k in rates["builtin"]}
              for other in ("qemu", "path") if other in runners}
    return out, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    image = build()
    runners = ["path"] + [n for n in sorted(RUNNERS)
                          if n != "qemu" or QemuRunner.missing() is None]
    ceiling = {c.size: c.frames_per_s for c in measure(sizes=(64, 1514), count=200_000)}
    print("tap write ceiling (one write per frame, C): "
          + ", ".join(f"{s} B {r / 1e6:.2f} M frames/s" for s, r in ceiling.items()))
    print(f"\n{args.frames} frames per stream, median of {args.runs}, runners taking turns; "
          "k frames/s (Gbit/s) [exits per frame]; builtin/qemu and builtin/path: medians of "
          "the per-round ratios")
    header = f"{'model':14} {'direction':12} {'size':>5} " + " ".join(f"{r:>26}" for r in runners)
    print(header + ("   builtin/qemu" if "qemu" in runners else "") + "   builtin/path"
          "   builtin/tap-write")
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
                for other, width in (("qemu", 12), ("path", 12)):
                    if other in ratios:
                        line += f"   {ratios[other][direction, size]:{width}.2f}"
                line += f"   {rates['builtin'] / ceiling[size]:17.3f}"
                print(line)


if __name__ == "__main__":
    main()
