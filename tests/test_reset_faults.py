"""Every NIC-reset check fails under a device model that keeps state across a reset by its
driver: the station address set since boot, or its ring positions (tests/faults/nic_plugin.py,
KVMNET_TEST_RESET_KEEPS). e1000's driver reprograms everything it relies on after CTRL.RST
(RAL0/RAH0, MTA, RCTL, RDH/TDH), so state an e1000 keeps cannot show: there a reset that never
completes is the fault. Each case first shows the same checks passing without it."""

import pytest

from support.suite_runner import expect

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

PLUGIN = "tests.faults.nic_plugin"
SUITE = "conformance/test_nic_reset.py"
MAC, FLOW, FILTERS = ("test_after_a_reset_the_nic_has_its_configured_mac",
                      "test_after_a_reset_frames_flow_both_ways_intact",
                      "test_after_a_reset_the_filters_pass_only_the_nics_own_frames")
CASES = [
    # (model, what the model keeps, the checks that must fail, a phrase their report holds)
    ("rtl8139", "mac", (MAC, FLOW, FILTERS), "the device kept the MAC set before the reset"),
    ("virtio", "mac", (MAC, FLOW, FILTERS), "the device kept the MAC set before the reset"),
    ("virtio-legacy", "mac", (MAC, FLOW, FILTERS), "the device kept the MAC set before"),
    ("virtio", "rings", (FLOW,), "after a reset"),
    ("e1000", "stuck", (MAC, FLOW, FILTERS), "did not come back from a reset by its driver"),
]


@pytest.mark.parametrize("model, keeps, checks, phrase", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_reset_check_fails_when_the_model_keeps_state(suite, no_netns_left, model, keeps,
                                                     checks, phrase):
    ids = [f"{suite.path(SUITE)}::{check}[builtin-{model}]" for check in checks]
    expect(suite.run(*ids, plugins=[PLUGIN]), passed=len(ids))
    broken = suite.run(*ids, plugins=[PLUGIN], env={"KVMNET_TEST_RESET_KEEPS": keeps})
    expect(broken, failed=len(ids))
    assert phrase in broken.stdout.str(), f"{model} keeping {keeps}: no {phrase!r}"
