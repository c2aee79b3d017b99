"""Every NIC-reset check fails under a device model that keeps state across a reset: by its
driver, or of the whole machine (a warm reboot through the VMM). Each case first shows the
same checks passing without the fault.

Across a reset by its driver (tests/faults/nic_plugin.py, KVMNET_TEST_RESET_KEEPS): the
station address set since boot, or its ring positions. e1000's driver reprograms everything
it relies on after CTRL.RST (RAL0/RAH0, MTA, RCTL, RDH/TDH), so state an e1000 keeps cannot
show: there a reset that never completes is the fault.

Across a warm reboot (KVMNET_TEST_REBOOT_KEEPS): the rebooted guest's drivers reset every
NIC and set its rings and filters at bring-up, as after a driver reset, so ring positions or
filters a model kept across the system reset would not show, on any model. What no driver
can mask is what it reads at bring-up: the station address in the EEPROM (e1000 words 0-2,
rtl8139 words 7-9) or the config space (virtio-net), which a system reset must load with the
configured address again. The fault is a model whose power-on takes the address the driver
set before the reboot for its configured one; and, for e1000, a CTRL.RST that never
completes after the reboot. A VMM that skips the system reset of its PCI functions
altogether passes all of those (the drivers set the NICs up again): the PCI function as the
rebooted guest finds it (COMMAND, BARs) shows it.
"""

import pytest

from support.suite_runner import expect

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

PLUGIN = "tests.faults.nic_plugin"
SUITE = "conformance/test_nic_reset.py"
MAC, FLOW, FILTERS = ("test_after_a_reset_the_nic_has_its_configured_mac",
                      "test_after_a_reset_frames_flow_both_ways_intact",
                      "test_after_a_reset_the_filters_pass_only_the_nics_own_frames")
REBOOTED = (MAC.replace("a_reset", "a_warm_reboot"), FLOW.replace("a_reset", "a_warm_reboot"),
            FILTERS.replace("a_reset", "a_warm_reboot"))
CASES = [
    # (model, what the model keeps, the checks that must fail, a phrase their report holds)
    ("rtl8139", "mac", (MAC, FLOW, FILTERS), "the device kept the MAC set before the reset"),
    ("virtio", "mac", (MAC, FLOW, FILTERS), "the device kept the MAC set before the reset"),
    ("virtio-legacy", "mac", (MAC, FLOW, FILTERS), "the device kept the MAC set before"),
    ("virtio", "rings", (FLOW,), "after a reset"),
    ("e1000", "stuck", (MAC, FLOW, FILTERS), "did not come back from a reset by its driver"),
]
REBOOT_CASES = [
    # (model, what the model keeps across a system reset, a phrase the failures' report holds)
    ("rtl8139", "mac", "the device kept the MAC set before the reboot (set to 02:6b:76:00:00:99)"),
    ("e1000", "mac", "the device kept the MAC set before the reboot (set to 02:6b:76:00:00:99)"),
    ("virtio", "mac", "the device kept the MAC set before the reboot (set to 02:6b:76:00:00:99)"),
    ("virtio-legacy", "mac", "the device kept the MAC set before the reboot"),
    ("e1000", "stuck", "did not come back from a warm reboot: 'counters 0': nicfailed"),
]
PCI_FOUND = "test_after_a_warm_reboot_its_pci_function_is_found_as_at_boot"


def shown_failing(suite, model, checks, variable, keeps, phrase):
    ids = [f"{suite.path(SUITE)}::{check}[builtin-{model}]" for check in checks]
    expect(suite.run(*ids, plugins=[PLUGIN]), passed=len(ids))
    broken = suite.run(*ids, plugins=[PLUGIN], env={variable: keeps})
    expect(broken, failed=len(ids))
    assert phrase in broken.stdout.str(), f"{model} keeping {keeps}: no {phrase!r}"


@pytest.mark.parametrize("model, keeps, checks, phrase", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_reset_check_fails_when_the_model_keeps_state(suite, no_netns_left, model, keeps,
                                                     checks, phrase):
    shown_failing(suite, model, checks, "KVMNET_TEST_RESET_KEEPS", keeps, phrase)


@pytest.mark.parametrize("model, keeps, phrase", REBOOT_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in REBOOT_CASES])
def test_reboot_check_fails_when_the_model_keeps_state(suite, no_netns_left, model, keeps,
                                                      phrase):
    shown_failing(suite, model, REBOOTED, "KVMNET_TEST_REBOOT_KEEPS", keeps, phrase)


@pytest.mark.parametrize("model", ["e1000", "virtio"])
def test_a_vmm_that_skips_the_pci_reset_is_seen_by_the_found_state(suite, no_netns_left,
                                                                    model):
    shown_failing(suite, model, (PCI_FOUND,), "KVMNET_TEST_REBOOT_KEEPS", "pci",
                  "the reset left the function as the last boot set it")
