"""Host networking conformance: tun/tap, vhost-net and the link kinds the topologies use."""


import pytest

from kvmnet.host import links, tun, vhost

LINK_KINDS = ("bridge", "veth", "macvlan", "macvtap")


def test_tun_offers_what_a_vmm_needs(tun_device, evidence):
    """TUNGETFEATURES includes IFF_TAP, IFF_NO_PI, IFF_VNET_HDR and IFF_MULTI_QUEUE."""
    offered = tun.feature_names(tun.get_features(tun_device))
    names = {part for name in offered for part in name.split("/")}
    evidence.table("TUNGETFEATURES", [(f"IFF_{n}", "offered") for n in offered]
                   + [(f"IFF_{n}", "MISSING") for n in tun.REQUIRED_FEATURES if n not in names])
    missing = [f"IFF_{n}" for n in tun.REQUIRED_FEATURES if n not in names]
    assert not missing, f"{tun_device} does not offer {', '.join(missing)}"


@pytest.mark.needs_root
def test_multiqueue_tap_with_vnet_header_in_a_namespace(scratch_netns, tun_device, evidence):
    """A tap with IFF_VNET_HDR and two queues is made in a namespace, takes a 12-byte
    virtio-net header, and disappears when its queues close."""
    with tun.multiqueue_tap(scratch_netns, "kvtap0", 2, tun_device) as queues:
        with scratch_netns.ipr() as ipr:
            link = links.lookup(ipr, "kvtap0")
        tun.set_vnet_hdr_size(queues[0], 12)
        hdr = tun.get_vnet_hdr_size(queues[0])
    with scratch_netns.ipr() as ipr:
        after = links.lookup(ipr, "kvtap0")
    evidence.table("tap", [("link", link), ("vnet header", hdr), ("after close", after)])
    assert link is not None and link.kind == "tun", f"TUNSETIFF made no tap in the namespace: {link}"
    assert hdr == 12, f"TUNSETVNETHDRSZ 12 read back as {hdr}"
    assert after is None, f"the tap outlived its queues: {after}"


@pytest.mark.needs_vhost_net
def test_vhost_net_offers_virtio_net_features(kvmnet_settings, evidence):
    """/dev/vhost-net takes an owner and offers VIRTIO_F_VERSION_1 and MRG_RXBUF."""
    offered = vhost.feature_names(vhost.get_features(kvmnet_settings.vhost_net_device))
    evidence.table("VHOST_GET_FEATURES", [(name,) for name in offered])
    for needed in ("VIRTIO_F_VERSION_1", "VIRTIO_NET_F_MRG_RXBUF"):
        assert needed in offered, f"vhost-net does not offer {needed}"


@pytest.mark.needs_root
@pytest.mark.parametrize("kind", LINK_KINDS)
def test_link_kind_is_created_and_removed(scratch_netns, kind, evidence):
    """A link of each kind the topologies use is created in a namespace, reads back as that
    kind, and is gone after removal."""
    with scratch_netns.ipr() as ipr:
        sample = links.create_sample(ipr, kind, f"kv{kind[:6]}0")
        assert sample.error is None, sample.error
        links.remove(ipr, sample.link.name)
        after = links.lookup(ipr, sample.link.name)
    evidence.table(f"{kind} link", [("created", sample.link), ("after removal", after)])
    assert sample.link.kind == kind, f"asked for a {kind} link, the kernel made {sample.link}"
    assert after is None, f"{kind} link {after.name} still present after removal"
