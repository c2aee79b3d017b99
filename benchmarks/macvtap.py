"""MacVTap against tap-on-a-bridge, per NIC model and runner, side by side in one run.

    .venv/bin/python benchmarks/macvtap.py [--frames 10000] [--runs 3] [--models e1000,virtio]

For each runner x NIC model, the same guest on a tap port of a Linux bridge and on a
macvtap (bridge mode) over a veth lower device: frames/s guest -> peer and peer -> guest at
1514 B (every frame verified by its receiver), and the median round trip of a 64-byte frame
the guest bounces back. Medians of --runs; the machine is noisy, so read the ratios.
"""

import argparse
import statistics

from kvmnet.guest_image import build
from kvmnet.topology.macvtap import MacvtapTopology
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.latency import bounced_round_trip
from kvmnet.peer.streams import guest_to_peer, peer_to_guest, verified_rate
from kvmnet.runners import RUNNERS, QemuRunner
from kvmnet.runners.nics import MODELS, Nic, NicGuest

GUEST_MAC = "02:6b:76:00:00:01"
SIZE, RTT_SIZE, ROUND_TRIPS = 1514, 64, 300
TOPOLOGIES = {
    "bridge+tap": lambda hdr: BridgeTopology.create("bench", vnet_hdr=hdr),
    "macvtap": lambda hdr: MacvtapTopology.create("bench", "bridge", [GUEST_MAC], vnet_hdr=hdr),
}


def measure_one(runner, model, topology, image, count, runs):
    """{'guest->peer': frames/s, 'peer->guest': frames/s, 'rtt': seconds}, medians."""
    hdr = 12 if model.startswith("virtio") else 0
    with TOPOLOGIES[topology](hdr) as topo:
        peer = Peer.on(topo)
        with runner.start(image, nics=[Nic(model, GUEST_MAC, topo.taps[0])]) as guest:
            guest.channel.wait_hello(30)
            subject = NicGuest(guest, model, GUEST_MAC)
            out = {name: statistics.median(verified_rate(stream, subject, peer, count, SIZE)
                                           for _ in range(runs))
                   for name, stream in (("guest->peer", guest_to_peer),
                                        ("peer->guest", peer_to_guest))}
            out["rtt"] = statistics.median(bounced_round_trip(subject, peer, ROUND_TRIPS,
                                                              RTT_SIZE) for _ in range(runs))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    image = build()
    runners = [n for n in sorted(RUNNERS) if n != "qemu" or QemuRunner.missing() is None]
    print(f"{args.frames} frames of {SIZE} B per stream, {ROUND_TRIPS} round trips of "
          f"{RTT_SIZE} B; medians of {args.runs}")
    print(f"{'runner':8} {'model':14} {'measure':18} {'bridge+tap':>12} {'macvtap':>12} "
          f"{'macvtap/bridge':>15}")
    for runner in runners:
        for model in args.models.split(","):
            results = {t: measure_one(RUNNERS[runner](), model, t, image, args.frames,
                                      args.runs) for t in TOPOLOGIES}
            for name, unit, scale in (("guest->peer", "k frames/s", 1e-3),
                                      ("peer->guest", "k frames/s", 1e-3),
                                      ("rtt", "us", 1e6)):
                a, b = results["bridge+tap"][name], results["macvtap"][name]
                print(f"{runner:8} {model:14} {name + ' ' + unit:18} {a * scale:12.1f} "
                      f"{b * scale:12.1f} {b / a:15.2f}")


if __name__ == "__main__":
    main()
