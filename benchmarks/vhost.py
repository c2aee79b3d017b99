"""virtio-net datapath rates: the VMM's own C datapath on a tap beside the same guest NIC
handed to dpdk-testpmd over vhost-user (built-in VMM and QEMU), side by side in one run.

    .venv/bin/python benchmarks/vhost.py [--frames 20000] [--sizes 64,1514]

Every frame is verified by its receiver (kvmnet.peer.streams). For the built-in VMM it also
prints exits per frame and notify exits (0 when every kick went through an ioeventfd).
Note: testpmd's forwarding lcore busy-polls one of this host's two cores.
"""

import argparse
import tempfile
import time
from pathlib import Path

from kvmnet.backends.vhost import VhostUserBackend
from kvmnet.guest_image import build
from kvmnet.host.topology import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.streams import guest_to_peer, peer_to_guest, perfect
from kvmnet.runners import BuiltinRunner, QemuRunner
from kvmnet.runners.nics import Nic, NicGuest
from kvmnet.vhost.testpmd import Testpmd

MAC = "02:6b:76:00:00:01"


def notify_exits(guest):
    bar = guest.nics[0].bars[4]
    return sum(n for (kind, addr), n in guest.exits.items()
               if kind == "MMIO" and bar.address + 0x3000 <= (addr or 0) < bar.address + 0x3008)


def measure(runner, vhost, frames, sizes, workdir):
    with BridgeTopology.create("bench", vnet_hdr=12) as topo:
        peer = Peer.on(topo)
        pmd = (Testpmd.start(topo.netns, workdir / "b.sock", workdir / "b.log", bridge=topo.bridge)
               if vhost else None)
        backend = VhostUserBackend(pmd.socket_path) if vhost else topo.taps[0]
        try:
            with runner.start(build(), nics=[Nic("virtio", MAC, backend)]) as guest:
                guest.channel.wait_hello(30)
                nic = NicGuest(guest, "virtio", MAC)
                rows = []
                for size in sizes:
                    for name, stream in (("guest->peer", guest_to_peer), ("peer->guest", peer_to_guest)):
                        before = sum(guest.exits.values()) if hasattr(guest, "exits") else None
                        start = time.perf_counter()
                        verdict = stream(nic, peer, frames, size)
                        seconds = time.perf_counter() - start
                        ok = verdict.ok if stream is guest_to_peer else perfect(verdict, frames)
                        per = ((sum(guest.exits.values()) - before) / frames
                               if before is not None else None)
                        rows.append((size, name, frames / seconds, ok, per))
                notify = notify_exits(guest) if hasattr(guest, "exits") else None
                return rows, notify
        finally:
            if vhost:
                backend.close()
                pmd.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--sizes", default="64,1514")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as workdir:
        for runner in (BuiltinRunner(), QemuRunner()):
            for vhost in (False, True):
                if runner.name == "qemu" and QemuRunner.missing():
                    continue
                rows, notify = measure(runner, vhost, args.frames, sizes, Path(workdir))
                path = "vhost-user/testpmd" if vhost else "tap (VMM C datapath)" if runner.name == "builtin" else "tap (QEMU userspace)"
                for size, name, rate, ok, per in rows:
                    extra = f"  exits/frame {per:.3f}" if per is not None else ""
                    print(f"{runner.name:8} {path:22} {size:5} B {name:12} {rate:10.0f} frames/s"
                          f"  {'ok' if ok else 'FRAMES WRONG'}{extra}")
                if notify is not None:
                    print(f"{runner.name:8} {path:22} notify exits over the run: {notify}")


if __name__ == "__main__":
    main()
