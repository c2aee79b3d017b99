"""A pytest plugin that breaks the network path under the unchanged conformance files.

Loaded into a conformance run by tests/ (Suite.run(..., plugins=["tests.faults.nic_plugin"])),
it reads what to break from the environment:

    KVMNET_TEST_NIC_FAULTS   comma-separated fault switches of the built-in NIC models
                             (filter_bug, lose_descriptor, corrupt_rx; the offloads':
                             bad_tx_csum, tso_over_mss, rx_csum_trusted)
    KVMNET_TEST_WRONG_MAC    give the guest's NIC this MAC instead of the one the checks expect
    KVMNET_TEST_NO_IRQ       the built-in VMM's interrupt lines stay low and MSI-X messages
                             are never sent, by the VMM nor through irqfds (a broken
                             interrupt path)
    KVMNET_TEST_IRQ_ONCE     a device's INTx line rises once, and never again after the
                             driver acknowledged it
    KVMNET_TEST_RESET_KEEPS  mac | rings: the built-in device models keep, across a reset by
                             their driver, the station address set since boot (e1000 RAL0/RAH0,
                             rtl8139 IDR through the EEPROM auto-load, virtio-net's filter MAC)
                             or their ring positions (RDH/TDH, CAPR/CBR, last_avail/used_idx);
                             stuck: e1000's CTRL.RST never clears after the one at boot (its
                             driver reprograms all it relies on after a reset, so state an
                             e1000 keeps cannot show)
    KVMNET_TEST_REBOOT_KEEPS mac: the built-in device models keep, across a system reset (the
                             machine's warm reset, Machine.reset), the station address the
                             driver set: their power-on takes it for the configured one
                             (e1000 and rtl8139 EEPROM words, virtio-net's config `mac`), as
                             a VMM that wrote the guest's address back into its NIC's
                             configuration would; stuck: after a system reset e1000's CTRL.RST
                             never clears; pci: the VMM leaves its PCI functions (and the
                             models behind them) as they were. (Ring positions and receive
                             filters a model kept across a system reset could not show: this
                             guest's drivers reset each NIC and set its rings and filters at
                             bring-up; the PCI function as the guest finds it does.)
    KVMNET_TEST_LINK_FAULT   drop | corrupt: a BPF tc filter on the bridge's tap port, both
                             ways, on test frames only: drop one in 10 at random (the
                             shortest check, 100 frames, then passes once in ~40,000
                             runs), or flip a payload byte
    KVMNET_TEST_VHOST_LACKS  a feature name (VIRTIO_RING_F_EVENT_IDX): the vhost backend
                             reports it lacks it (a smaller backend, not a fault by itself)
    KVMNET_TEST_VHOST_OFFER_ALL  the VMM offers the guest its features and every one only a
                             backend can provide, whatever the backend lacks, and passes
                             on what the guest accepted
    KVMNET_TEST_VHOST_DEAF   the VMM never hears that its vhost backend went away
    KVMNET_TEST_VHOST_NO_HANDOFF  the built-in VMM keeps the rings (its own datapath on the
                             backend's fallback tap) instead of handing them to the backend

Each is what a broken host, device model or configuration would do; a check that still
passes under one of them is a check that cannot fail.
"""

import dataclasses
import os
import struct

import pytest

import fixtures.network
import kvmnet.devices.e1000
import kvmnet.devices.virtio_calls
import kvmnet.devices.virtio_vhost
import kvmnet.runners.builtin
import kvmnet.backends.vhost.frontend
import kvmnet.vmm.irq
import kvmnet.vmm.msix
import kvmnet.vmm.pci


def _nic_faults():
    return tuple(f for f in os.environ.get("KVMNET_TEST_NIC_FAULTS", "").split(",") if f)


def pytest_configure(config):
    faults, wrong_mac = _nic_faults(), os.environ.get("KVMNET_TEST_WRONG_MAC")
    if faults:
        make = kvmnet.runners.builtin.builtin_device
        kvmnet.runners.builtin.builtin_device = (
            lambda nic: make(dataclasses.replace(nic, faults=faults)))
    if os.environ.get("KVMNET_TEST_IRQ_ONCE"):
        real_set = kvmnet.vmm.irq.IrqLine.set

        def once(self, level):
            if level and self.raised:
                return
            real_set(self, level)
        kvmnet.vmm.irq.IrqLine.set = once
    if os.environ.get("KVMNET_TEST_NO_IRQ"):
        kvmnet.vmm.irq.IrqLine.set = lambda self, level: None
        kvmnet.vmm.msix.Msix._deliver_pending = lambda self: None
        kvmnet.devices.virtio_calls.QueueCalls.sync = lambda self: None  # no irqfd either
    _vhost_faults(kvmnet.backends.vhost.frontend.VhostFrontend)
    _reset_faults(os.environ.get("KVMNET_TEST_RESET_KEEPS"))
    _reboot_faults(os.environ.get("KVMNET_TEST_REBOOT_KEEPS"))
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
    make = {"drop": lambda **k: tc.drop(fraction=0.1, **k),
            "corrupt": lambda **k: tc.corrupt(offset=40, **k)}[fault]
    applied = [make(netns=bridge.netns, ifname=bridge.taps[0].name, direction=d,
                    ethertype=ETHERTYPE) for d in ("ingress", "egress")]
    yield
    for f in applied:
        f.remove()


def _vhost_faults(frontend):
    lacks = os.environ.get("KVMNET_TEST_VHOST_LACKS")
    if lacks:
        made = frontend.__init__

        def smaller(self, *args, **kwargs):
            made(self, *args, **kwargs)
            self.features &= ~(1 << getattr(kvmnet.backends.vhost.frontend.lib, lacks))
        frontend.__init__ = smaller
    if os.environ.get("KVMNET_TEST_VHOST_OFFER_ALL"):  # and hands on what the guest took
        frontend.offer = lambda self, ours: ours | kvmnet.backends.vhost.frontend.BACKEND_FEATURES

        def unchecked(self, driver_features):
            self.negotiated = driver_features & kvmnet.backends.vhost.frontend.BACKEND_FEATURES
            self.transport.set_features(self.negotiated)
        frontend.set_features = unchecked
    if os.environ.get("KVMNET_TEST_VHOST_NO_HANDOFF"):
        kvmnet.devices.virtio_vhost.VhostHandoff.activated = lambda self: None
    if os.environ.get("KVMNET_TEST_VHOST_DEAF"):
        frontend.on_death = lambda self, callback: None


def _reset_faults(keeps):
    """Device models that keep state across a reset (KVMNET_TEST_RESET_KEEPS)."""
    if not keeps:
        return
    from kvmnet.devices.e1000 import E1000
    if keeps == "stuck":
        def stuck(self, value):  # after the bring-up at boot
            if value & kvmnet.devices.e1000.lib.E1000_CTRL_RST:
                self.resets_seen = getattr(self, "resets_seen", 0) + 1
                if self.resets_seen > 1:
                    self.e.ctrl |= kvmnet.devices.e1000.lib.E1000_CTRL_RST
                    return
            real_ctrl(self, value)
        real_ctrl = E1000._write_ctrl
        E1000._write_ctrl = stuck
        return
    from kvmnet.devices.rtl8139 import Rtl8139
    from kvmnet.devices.virtio_net import VirtioNet
    fields = {"mac": {"e1000": ("ra",), "rtl8139": ("idr",), "virtio": ("mac",)},
              "rings": {"e1000": ("rdh", "tdh"), "rtl8139": ("capr", "cbr"),
                        "virtio": ("last_avail", "used_idx")}}[keeps]
    _keeping(E1000, "_reset", lambda d: d.e, fields["e1000"])
    _keeping(Rtl8139, "_autoload" if keeps == "mac" else "_soft_reset", lambda d: d.r,
             fields["rtl8139"])
    if keeps == "mac":
        _keeping(VirtioNet, "reset", lambda d: d._state.filter, fields["virtio"])
    else:
        for ring in ("rx", "tx"):
            _keeping(VirtioNet, "reset", lambda d, ring=ring: getattr(d._state, ring),
                     fields["virtio"])


def _reboot_faults(keeps):
    """Device models that keep state across a system reset (KVMNET_TEST_REBOOT_KEEPS)."""
    if not keeps:
        return
    from kvmnet.devices.e1000 import E1000
    rst = kvmnet.devices.e1000.lib.E1000_CTRL_RST
    if keeps == "stuck":
        def never_again(self, value):
            if value & rst and getattr(self, "rebooted", False):
                self.e.ctrl |= rst
                return
            real_ctrl(self, value)
        real_ctrl = E1000._write_ctrl
        E1000._write_ctrl = never_again
        _after_power_on(E1000, lambda self: setattr(self, "rebooted", True))
        return
    if keeps == "pci":  # the VMM skips the system reset of its PCI functions altogether
        kvmnet.vmm.pci.PciBus.system_reset = lambda self: None
        return
    if keeps != "mac":
        raise ValueError(f"KVMNET_TEST_REBOOT_KEEPS={keeps}: mac, stuck or pci")
    from kvmnet.devices.rtl8139 import Rtl8139
    from kvmnet.devices.virtio_net import VirtioNetPci

    def e1000_address(d):
        return struct.pack("<IH", d.e.ra[0], d.e.ra[1] & 0xFFFF)

    def virtio_adopts(d):
        d.net.mac = bytes(d.net._state.filter.mac)
    _before_power_on(E1000, lambda d: setattr(d, "mac", e1000_address(d)))
    _before_power_on(Rtl8139, lambda d: setattr(d, "mac", bytes(d.r.idr)))
    _before_power_on(VirtioNetPci, virtio_adopts)


def _before_power_on(cls, act):
    real = cls.power_on_reset

    def power_on_reset(self):
        act(self)
        real(self)
    cls.power_on_reset = power_on_reset


def _after_power_on(cls, act):
    real = cls.power_on_reset

    def power_on_reset(self):
        real(self)
        act(self)
    cls.power_on_reset = power_on_reset


def _keeping(cls, method, state_of, names):
    """cls.method, but the fields names of state_of(device) are as they were before it."""
    real = getattr(cls, method)

    def keeping(self, *args, **kwargs):
        try:
            state = state_of(self)
            kept = {n: _copy(getattr(state, n)) for n in names}
        except AttributeError:  # not made yet: the device's first reset, at power-on
            return real(self, *args, **kwargs)
        result = real(self, *args, **kwargs)
        if any(_nonzero(v) for v in kept.values()):
            for n, value in kept.items():
                setattr(state, n, value)
        return result
    setattr(cls, method, keeping)


def _copy(value):
    return list(value) if not isinstance(value, int) else value


def _nonzero(value):
    return any(value) if isinstance(value, list) else bool(value)
