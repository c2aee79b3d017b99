"""The guest's drivers against devices that offer less than kvmnet's checks usually meet:
QEMU's virtio-net with a feature switched off (each changes the driver's path: net header
size, descriptor layout, notification suppression, control queue), and all four NIC models
in one guest, sharing INTx lines. Frames both ways must arrive intact, and interrupts must
reach each NIC. (What guestimg/try_nics.py once did by hand, on the library's parts.)"""

import pytest

from kvmnet.guest import GuestError
from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.streams import guest_to_peer, new_seed, peer_to_guest, perfect, settled
from kvmnet.runners import RUNNERS, QemuRunner
from kvmnet.runners.nics import MODELS, Nic, NicGuest

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root,
              pytest.mark.skipif(QemuRunner.missing() is not None,
                                 reason=str(QemuRunner.missing()))]

FRAMES = 1000
MACS = [f"02:6b:76:00:00:{i + 1:02x}" for i in range(len(MODELS))]
# (model, QEMU property): each moves the guest driver off its usual path.
VARIANTS = [("virtio", "mrg_rxbuf=off"),        # single-buffer receive (VERSION_1: 12 bytes)
            ("virtio-legacy", "mrg_rxbuf=off"),  # the 10-byte legacy header
            ("virtio-legacy", "any_layout=off"),  # header in a descriptor of its own
            ("virtio", "event_idx=off"),          # flags-based notification suppression
            ("virtio", "ctrl_mac_addr=off"),      # MAC set through the config space
            ("virtio", "ctrl_vq=off")]            # no control queue: no CTRL_RX either


def streams_both_ways(nic_guest, peer, count=FRAMES, size=1514):
    sent = guest_to_peer(nic_guest, peer, count, size)
    assert sent.ok, f"{nic_guest.model} guest -> peer: {sent.summary()}"
    got = peer_to_guest(nic_guest, peer, count, size)
    assert perfect(got, count), f"{nic_guest.model} peer -> guest: {got}"


@pytest.mark.parametrize("model, prop", VARIANTS, ids=[f"{m}-{p}" for m, p in VARIANTS])
def test_virtio_driver_with_a_feature_off(model, prop):
    # A legacy header (10 bytes) without MRG_RXBUF on the legacy interface; 12 otherwise.
    hdr = 10 if model == "virtio-legacy" and prop == "mrg_rxbuf=off" else 12
    with BridgeTopology.create("variant", vnet_hdr=hdr) as bridge:
        peer = Peer.on(bridge)
        nic = Nic(model, MACS[0], bridge.taps[0], qemu_properties=(prop,))
        with RUNNERS["qemu"]().start(build(), nics=[nic]) as guest:
            guest.channel.wait_hello(30)
            subject = NicGuest(guest, model, MACS[0])
            streams_both_ways(subject, peer)
            if model == "virtio" and prop in ("ctrl_mac_addr=off", "ctrl_vq=off"):
                # VERSION_1's config-space MAC is the device's to set: no way is left
                with pytest.raises(GuestError, match="unsupported"):
                    subject.command(f"mac 0 {MACS[1]}")
                return
            subject.command(f"mac 0 {MACS[1]}")  # through the path the property leaves
            subject.mac = MACS[1]
            streams_both_ways(subject, peer, 200, 128)


@pytest.mark.parametrize("runner", ["builtin", "qemu"])
def test_four_models_in_one_guest_share_intx_lines(runner):
    """Four NICs, one of each model, on four ports of one bridge: each carries its
    frames, and each one's INTx reaches the guest though lines are shared."""
    with BridgeTopology.create("four", ports=len(MODELS), vnet_hdr=[
            12 if m.startswith("virtio") else 0 for m in MODELS]) as bridge:
        peer = Peer.on(bridge)
        nics = [Nic(m, mac, tap) for m, mac, tap in zip(MODELS, MACS, bridge.taps)]
        start = RUNNERS[runner]("/dev/kvm") if runner == "builtin" else RUNNERS[runner]()
        with start.start(build(), nics=nics) as guest:
            guest.channel.wait_hello(30)
            for index, (model, mac) in enumerate(zip(MODELS, MACS)):
                subject = NicGuest(guest, model, mac, index)
                streams_both_ways(subject, peer, 500, 512)
                pending = subject.begin(f"irq {index} intx 3")
                assert pending.data() == ["armed"]
                for seq in range(3):
                    peer.send(mac, new_seed(), 1, 128, first_seq=seq)
                    pending.data(5)
                got = settled(pending)
                assert got["frames"] == 3 and got["irqs"] >= 3, f"{model} INTx: {got}"
