"""ARP and ICMP echo on link-local IPv4: the guest answers the peer like a host would, so
the path carries real protocol frames, not only the suite's test streams."""

import pytest

from kvmnet.peer import probes

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

GUEST_IP, PEER_IP = "169.254.77.2", "169.254.77.1"


@pytest.fixture
def serving(nic_guest):
    """The guest answering ARP and ICMP echo for GUEST_IP until the test ends."""
    pending = nic_guest.start_serving(GUEST_IP)
    yield nic_guest
    pending.interrupt()
    pending.result(10)


def test_guest_answers_arp_for_its_address(serving, peer):
    """An ARP who-has for the guest's link-local address is answered with the guest's MAC."""
    mac = probes.arp_who_has(peer.netns, peer.ifname, GUEST_IP, src_mac=peer.mac, src_ip=PEER_IP)
    assert mac == serving.mac, f"{serving.model}: who-has {GUEST_IP} answered by {mac}"


def test_guest_answers_ping(serving, peer):
    """An ICMP echo request to the guest comes back as an echo reply with the same payload."""
    payload = b"kvmnet link-local ping"
    reply = probes.ping(peer.netns, peer.ifname, serving.mac, GUEST_IP, peer.mac,
                        src_ip=PEER_IP, payload=payload)
    assert reply is not None, f"{serving.model}: no echo reply from {GUEST_IP}"
    assert bytes(reply["ICMP"].payload) == payload, f"{serving.model}: echo payload changed"
