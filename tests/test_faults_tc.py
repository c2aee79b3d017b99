"""tests/faults/tc.py: the BPF fault programs load, filter what they say, and go away."""

import os

import pytest

from faults import tc
from kvmnet import testframe
from kvmnet.host.netns import Netns
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer import bulk
from kvmnet.peer.bulk import Peer

GUEST = "02:6b:76:00:00:01"
SEED = 0xFA17


def test_assembler_resolves_labels_and_encodes_registers():
    code = tc.assemble([tc.jne_imm(2, 7, "out"), tc.mov_imm(0, 2), "out", tc.exit_()])
    assert code == bytes.fromhex("5502 0100 07000000" "b700 0000 02000000" "9500 0000 00000000")


def test_kernel_support_names_every_option():
    support = tc.kernel_support()
    assert set(support) == set(tc.KERNEL_OPTIONS)
    assert all(v in ("y", "m", "n", None) for v in support.values())


def test_an_unknown_action_or_direction_is_refused():
    with pytest.raises(ValueError, match="'drop' or 'corrupt'"):
        tc.fault_program("delay")
    with pytest.raises(ValueError, match="'ingress' or 'egress'"):
        tc.Fault(None, "tap0", "sideways", tc.fault_program("drop"))


@pytest.mark.needs_root
@pytest.mark.parametrize("action", ["drop", "corrupt"])
@pytest.mark.parametrize("fraction", [1.0, 0.5])
@pytest.mark.parametrize("ethertype", [None, 0x88B5])
def test_every_program_passes_the_verifier(action, fraction, ethertype):
    os.close(tc.load(tc.fault_program(action, fraction, ethertype, offset=40)))


@pytest.mark.needs_root
def test_a_fault_limited_to_an_ethertype_leaves_other_frames_alone():
    with BridgeTopology.create("unit") as topo:
        peer = Peer.on(topo)
        with tc.drop(topo.netns, "tap0", "ingress", ethertype=0x0800):
            with peer.start_receive(SEED, 100, src=GUEST) as receiving:
                bulk.send(topo.taps[0].fd, peer.mac, GUEST, SEED, 100, 128)
                assert receiving.wait().ok


@pytest.mark.needs_root
def test_two_faults_on_one_link_are_removed_one_at_a_time():
    with BridgeTopology.create("unit") as topo:
        peer, tap = Peer.on(topo), topo.taps[0]
        corrupt = tc.corrupt(topo.netns, "tap0", "ingress", offset=30)
        with tc.drop(topo.netns, "tap0", "ingress", fraction=0.0):  # drops nothing
            pass
        with peer.start_receive(SEED, 10, src=GUEST, timeout=0.3) as receiving:
            for seq in range(10):
                os.write(tap.fd, testframe.build(peer.mac, GUEST, seq, SEED, 64))
            assert receiving.wait().bad == 10
        corrupt.remove()
        corrupt.remove()  # twice is fine


@pytest.mark.needs_root
def test_removing_a_fault_after_its_namespace_went_is_fine():
    ns = Netns.create("unit")
    with ns.ipr() as ipr:
        ipr.link("add", ifname="kvd0", kind="veth", peer={"ifname": "kvd1"})
    fault = tc.drop(ns, "kvd0", "egress")
    ns.remove()
    fault.remove()
