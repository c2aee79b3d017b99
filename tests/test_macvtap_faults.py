"""Every macvtap check fails when the macvtap topology is misbuilt.

The unchanged conformance/test_macvtap.py runs in a subprocess with
tests/faults/macvtap_plugin.py loaded: the guest's macvtap gets another MAC than its NIC,
the macvtaps get another mode than the check asked for, or the lower device is down. Each
case first shows the same checks passing without the fault.
"""

import pytest

from support.evidence import EVIDENCE, failed_tests_evidence
from support.suite_runner import expect

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

PLUGIN = "tests.faults.macvtap_plugin"
SUITE = "conformance/test_macvtap.py"
MODELS = ["rtl8139", "e1000", "virtio", "virtio-legacy"]
ONE_GUEST = "[builtin-{model}-{mode}]"
PAIR = "[builtin-{model}]"
# @host_decides checks exist for one runner and model only: they are run with that model's case.
HOST_MODEL = "virtio"
HOST_ONE_GUEST = "[builtin-virtio-{mode}]"
HOST_PAIR = "[builtin-virtio]"

CASES = [
    # (what is broken, fault, the checks that must fail, a phrase their report must hold)
    ("macvtap with another MAC than its guest", "other_mac",
     [f"test_frames_to_the_guest_mac_reach_the_guest{ONE_GUEST}".format(mode=m, model="{model}")
      for m in ("bridge", "vepa", "private")], "but its macvtap has 02:6b:76:00:00:66"),
    ("macvtaps in the wrong mode", "wrong_mode",
     [f"test_the_host_stack_never_sees_the_guests_frames{HOST_ONE_GUEST}".format(mode="bridge",
                                                                           model="{model}"),
      *[f"test_unicast_to_another_mac_stops_at_the_macvtap{HOST_ONE_GUEST}".format(
          mode=m, model="{model}") for m in ("bridge", "passthru")],
      f"test_passthru_guest_may_change_its_mac{ONE_GUEST}".format(mode="passthru",
                                                                 model="{model}"),
      f"test_multicast_needs_the_macvtap_filter_opened{HOST_ONE_GUEST}".format(mode="bridge",
                                                                         model="{model}"),
      f"test_a_group_closed_again_stops_arriving{HOST_ONE_GUEST}".format(mode="bridge",
                                                                   model="{model}"),
      f"test_a_guest_whose_mac_is_not_its_macvtaps_is_cut_off{HOST_ONE_GUEST}".format(
          mode="bridge", model="{model}"),
      f"test_bridge_mode_delivers_between_guests_inside_the_host{HOST_PAIR}",
      f"test_vepa_mode_sends_guest_to_guest_frames_out_to_the_switch{HOST_PAIR}",
      f"test_vepa_mode_delivers_between_guests_through_a_hairpin_switch{HOST_PAIR}",
      f"test_private_mode_never_delivers_between_guests{HOST_PAIR}",
      f"test_private_mode_isolates_guests_even_through_a_hairpin_switch{HOST_PAIR}",
      "test_passthru_takes_one_macvtap_per_lower_device"], "(the kernel says so), not the"),
    ("lower device down", "lower_down",
     [f"test_frames_to_the_guest_mac_reach_the_guest{ONE_GUEST}".format(mode="bridge",
                                                                       model="{model}"),
      f"test_guest_frames_reach_the_network{ONE_GUEST}".format(mode="passthru", model="{model}"),
      f"test_broadcast_reaches_the_guest{HOST_ONE_GUEST}".format(mode="vepa", model="{model}"),
      f"test_in_bridge_mode_the_host_cannot_reach_its_guest{HOST_ONE_GUEST}".format(
          mode="bridge", model="{model}"),
      # nothing between private-mode guests once passed here: nothing went anywhere
      f"test_private_mode_never_delivers_between_guests{HOST_PAIR}"],
     "lost"),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("what, fault, checks, phrase", CASES, ids=[c[1] for c in CASES])
def test_macvtap_check_fails_when_the_topology_is_misbuilt(suite, no_netns_left, model, what,
                                                          fault, checks, phrase):
    ids = [f"{suite.path(SUITE)}::{name.format(model=model)}" for name in checks
           if "{model}" in name or "[" not in name or model == HOST_MODEL]
    clean = suite.run(*ids, "--kvmnet-frames=300", plugins=[PLUGIN])
    # Known Linux behaviours are XFAIL here (recognised by their signature), a pass elsewhere.
    expect(clean, passed=len(ids) - clean.parseoutcomes().get("xfailed", 0))
    env = {"KVMNET_TEST_MACVTAP_FAULT": fault}
    broken = suite.run(*ids, "--kvmnet-frames=300", plugins=[PLUGIN], env=env)
    expect(broken, failed=len(ids))
    assert phrase in broken.stdout.str(), f"{what}: the failure does not say {phrase!r}"
    for name, attached in failed_tests_evidence(broken.allure_dir).items():
        if "[" not in name:  # a check of the kernel alone: no guest, no peer
            continue
        two_guests = name.endswith((PAIR.format(model=model), HOST_PAIR))  # no peer to capture
        wanted = EVIDENCE - {"peer capture (pcap)"} if two_guests else EVIDENCE
        assert wanted <= attached, f"{name} attached only {sorted(attached)}"


def test_a_group_stopping_is_judged_only_once_it_flowed(suite, no_netns_left):
    """A host that never opens the macvtap's filter for a group its guest joined: the group
    never flows, so "a closed group stops arriving" proves nothing and must fail (it once
    passed here), beside the check that the opened group arrives."""
    checks = [f"{suite.path(SUITE)}::{name}{HOST_ONE_GUEST.format(mode='bridge')}"
              for name in ("test_multicast_needs_the_macvtap_filter_opened",
                           "test_a_group_closed_again_stops_arriving")]
    clean = suite.run(*checks, plugins=[PLUGIN])
    expect(clean, passed=2 - clean.parseoutcomes().get("xfailed", 0))
    broken = suite.run(*checks, plugins=[PLUGIN],
                       env={"KVMNET_TEST_MACVTAP_FAULT": "filter_never_opened"})
    expect(broken, failed=2)
    assert ("filter open for 01:00:5e:00:00:fb: 0 of 20 frames to the group reached the guest"
            in broken.stdout.str()), broken.stdout.str()
