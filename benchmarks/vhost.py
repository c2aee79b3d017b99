"""The vhost handoff measured: virtio-net's datapath in the VMM with every kick an exit, in
the VMM with kicks and interrupts through ioeventfd/irqfd, handed to a vhost-user backend
(DPDK's dpdk-testpmd) and to the kernel's vhost-net (where /dev/vhost-net exists), with
e1000 as the article's reference; per runner, side by side in one run.

    .venv/bin/python benchmarks/vhost.py [--frames 10000] [--runs 3] [--size 1514]

frames/s both ways (every frame verified by its receiver), the median round trip of a
64-byte frame the guest bounces, and exits per frame (built-in VMM). Ratios: throughput
against "virtio, kicks exit" (the article's userspace virtio, ~8x for vhost-net) and round
trip against e1000 (the article's vhost-net: ~10% lower). testpmd's forwarding lcore
busy-polls one of the host's cores, which the guest then does not have.
"""

import argparse
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from kvmnet.backends.vhost import VhostNetBackend, VhostUserBackend, vhost_net_present
from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.latency import bounced_round_trip
from kvmnet.peer.streams import guest_to_peer, peer_to_guest, verified_rate
from kvmnet.runners import BuiltinRunner, QemuRunner
from kvmnet.runners.nics import Nic, NicGuest
from kvmnet.backends.vhost import testpmd

MAC = "02:6b:76:00:00:01"
ROUND_TRIPS, RTT_SIZE = 300, 64
# path: (NIC model, backend kind, fault switches of the built-in model)
PATHS = {
    "virtio, kicks exit": ("virtio", "tap", ("no_ioeventfd",)),
    "virtio, ioeventfd/irqfd": ("virtio", "tap", ()),
    "vhost-user (testpmd)": ("virtio", "vhost-user", ()),
    "vhost-net": ("virtio", "vhost-net", ()),
    "e1000": ("e1000", "tap", ()),
}


def exits(guest):
    return sum(guest.exits.values()) if hasattr(guest, "exits") else None


def backend_for(kind, topo, stack, workdir):
    if kind == "tap":
        return topo.taps[0]
    if kind == "vhost-net":
        return stack.enter_context(VhostNetBackend(topo.taps[0]))
    pmd = stack.enter_context(testpmd.Testpmd.start(topo.netns, workdir / "b.sock",
                                                    workdir / "b.log", bridge=topo.bridge))
    return stack.enter_context(VhostUserBackend(pmd.socket_path))


def measure(runner, path, frames, size, runs, workdir):
    """{'guest->peer', 'peer->guest': frames/s, 'rtt': s, 'exits': per frame or None}"""
    model, kind, faults = PATHS[path]
    with ExitStack() as stack:
        topo = stack.enter_context(BridgeTopology.create(
            "bench", vnet_hdr=12 if model == "virtio" else 0))
        peer = Peer.on(topo)
        nic = Nic(model, MAC, backend_for(kind, topo, stack, workdir), faults=faults)
        guest = stack.enter_context(runner.start(build(), nics=[nic]))
        guest.channel.wait_hello(30)
        subject = NicGuest(guest, model, MAC)
        out, before = {}, exits(guest)
        for name, stream in (("guest->peer", guest_to_peer), ("peer->guest", peer_to_guest)):
            out[name] = statistics.median(verified_rate(stream, subject, peer, frames, size)
                                          for _ in range(runs))
        out["exits"] = (exits(guest) - before) / (2 * frames * runs) if before is not None else None
        out["rtt"] = statistics.median(bounced_round_trip(subject, peer, ROUND_TRIPS, RTT_SIZE)
                                       for _ in range(runs))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=1514)
    args = parser.parse_args()
    missing = {"vhost-user (testpmd)": testpmd.missing(),
               "vhost-net": None if vhost_net_present() else
               "/dev/vhost-net absent: the kernel is built without CONFIG_VHOST_NET"}
    runners = [BuiltinRunner()] + ([QemuRunner()] if QemuRunner.missing() is None else [])
    print(f"{args.frames} frames of {args.size} B per stream, {ROUND_TRIPS} round trips of "
          f"{RTT_SIZE} B; medians of {args.runs}; k frames/s, us")
    print(f"{'runner':8} {'path':24} {'g->p':>8} {'p->g':>8} {'rtt':>7} {'exits/f':>8} "
          f"{'g->p/kicks':>11} {'p->g/kicks':>11} {'rtt/e1000':>10}")
    with tempfile.TemporaryDirectory() as workdir:
        for runner in runners:
            results = {}
            for path in PATHS:
                if runner.name == "qemu" and path == "virtio, kicks exit":
                    continue  # QEMU's kicks always go through its ioeventfds
                if missing.get(path):
                    print(f"{runner.name:8} {path:24} skipped: {missing[path]}")
                    continue
                results[path] = measure(runner, path, args.frames, args.size, args.runs,
                                        Path(workdir))
            base = results.get("virtio, kicks exit") or results.get("virtio, ioeventfd/irqfd")
            for path, r in results.items():
                per = f"{r['exits']:8.3f}" if r["exits"] is not None else f"{'-':>8}"
                print(f"{runner.name:8} {path:24} {r['guest->peer'] / 1e3:8.1f} "
                      f"{r['peer->guest'] / 1e3:8.1f} {r['rtt'] * 1e6:7.1f} {per} "
                      f"{r['guest->peer'] / base['guest->peer']:11.2f} "
                      f"{r['peer->guest'] / base['peer->guest']:11.2f} "
                      f"{r['rtt'] / results['e1000']['rtt']:10.2f}")


if __name__ == "__main__":
    main()
