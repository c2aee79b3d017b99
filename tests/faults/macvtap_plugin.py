"""A pytest plugin that misbuilds the macvtap topology under the unchanged conformance files.

Loaded into a conformance run by tests/test_macvtap_faults.py, it reads from the environment:

    KVMNET_TEST_MACVTAP_FAULT   other_mac:  the guest's macvtap gets OTHER_MAC, not the NIC's
                                wrong_mode: every macvtap gets another mode than the check
                                            asked for (WRONG_MODE; passthru becomes bridge,
                                            which takes more than one), while the check
                                            believes its own
                                lower_down: the lower device goes down once built (a dropped
                                            link under the host)
                                filter_never_opened: the host never opens (nor closes) a
                                            macvtap's multicast filter for a group its
                                            guest joined

Each is a mistake a host's configuration makes; a check that still passes under one of them
is a check that cannot fail.
"""

import os

import fixtures.macvtap
import kvmnet.host.macvtap
from kvmnet.topology.macvtap import LOWER, MacvtapTopology

OTHER_MAC = "02:6b:76:00:00:66"
# bridge -> source: the host stack keeps a copy of the guest's frames, and other unicast
# gets through; the rest fall back to bridge, the default of most tools.
WRONG_MODE = {"bridge": "source", "vepa": "bridge", "private": "bridge", "passthru": "bridge",
              "source": "source"}


class Misbuilt(MacvtapTopology):
    @classmethod
    def create(cls, tag="main", mode="bridge", macs=(), **kwargs):
        fault = os.environ["KVMNET_TEST_MACVTAP_FAULT"]
        built_mode = WRONG_MODE[mode] if fault == "wrong_mode" else mode  # by _wrong_mode
        built_macs = [OTHER_MAC] + list(macs[1:]) if fault == "other_mac" else macs
        topology = super().create(tag, mode, built_macs, **kwargs)
        if built_mode == "source" and mode != "source":
            for port in range(len(macs)):
                topology.allow_source(port, topology.peer_mac)
        topology.mode, topology.macs = mode, list(macs)  # what the check asked for
        if fault == "filter_never_opened":
            topology.open_multicast = topology.close_multicast = lambda port, group: None
        if fault == "lower_down":
            with topology.netns.ipr() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname=LOWER)[0], state="down")
        return topology


def pytest_configure(config):
    fault = os.environ.get("KVMNET_TEST_MACVTAP_FAULT")
    if fault:
        fixtures.macvtap.MacvtapTopology = Misbuilt
    if fault == "wrong_mode":  # every macvtap made, the topologies' and the checks' own
        make = kvmnet.host.macvtap.create
        kvmnet.host.macvtap.create = (
            lambda ipr, name, lower, mode, mac=None: make(ipr, name, lower, WRONG_MODE[mode],
                                                          mac))
