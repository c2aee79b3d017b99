"""A pytest plugin that breaks the network path under the unchanged conformance files.

Loaded into a conformance run by tests/ (Suite.run(..., plugins=["tests.faults.nic_plugin"])),
it reads what to break from the environment:

    KVMNET_TEST_NIC_FAULTS   comma-separated fault switches of the built-in NIC models
                             (filter_bug, lose_descriptor, corrupt_rx)
    KVMNET_TEST_WRONG_MAC    give the guest's NIC this MAC instead of the one the checks expect
    KVMNET_TEST_NO_IRQ       the built-in VMM's interrupt lines stay low and MSI-X messages
                             are never sent, by the VMM nor through irqfds (a broken
                             interrupt path)
    KVMNET_TEST_LINK_FAULT   drop | corrupt: a BPF tc filter on the bridge's tap port, both
                             ways, on test frames only: drop one in 20, or flip a payload byte

Each is what a broken host, device model or configuration would do; a check that still
passes under one of them is a check that cannot fail.
"""

import dataclasses
import os

import pytest

import fixtures.network
import kvmnet.devices.virtio_calls
import kvmnet.runners.builtin
import kvmnet.vmm.irq
import kvmnet.vmm.msix


def _nic_faults():
    return tuple(f for f in os.environ.get("KVMNET_TEST_NIC_FAULTS", "").split(",") if f)


def pytest_configure(config):
    faults, wrong_mac = _nic_faults(), os.environ.get("KVMNET_TEST_WRONG_MAC")
    if faults:
        make = kvmnet.runners.builtin.builtin_device
        kvmnet.runners.builtin.builtin_device = (
            lambda nic: make(dataclasses.replace(nic, faults=faults)))
    if os.environ.get("KVMNET_TEST_NO_IRQ"):
        kvmnet.vmm.irq.IrqLine.set = lambda self, level: None
        kvmnet.vmm.msix.Msix._deliver_pending = lambda self: None
        kvmnet.devices.virtio_calls.QueueCalls.sync = lambda self: None  # no irqfd either
    if wrong_mac:
        real = fixtures.network.Nic
        fixtures.network.Nic = lambda model, mac, *a, **k: real(model, wrong_mac, *a, **k)


@pytest.fixture(autouse=True)
def _link_fault(request):
    fault = os.environ.get("KVMNET_TEST_LINK_FAULT")
    if not fault or "bridge" not in request.fixturenames:
        yield
        return
    from kvmnet.testframe import ETHERTYPE
    from tests.faults import tc
    bridge = request.getfixturevalue("bridge")
    make = {"drop": lambda **k: tc.drop(fraction=0.05, **k),
            "corrupt": lambda **k: tc.corrupt(offset=40, **k)}[fault]
    applied = [make(netns=bridge.netns, ifname=bridge.taps[0].name, direction=d,
                    ethertype=ETHERTYPE) for d in ("ingress", "egress")]
    yield
    for f in applied:
        f.remove()
