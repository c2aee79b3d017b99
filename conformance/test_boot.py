"""Boot conformance: the suite's own guest boots under each runner and answers on COM1.

The same image runs under the built-in VMM and under QEMU; what one runner accepts, the
other must too.
"""

import pytest

pytestmark = pytest.mark.needs_kvm


def test_guest_says_hello_from_ring_3(guest, evidence):
    """The guest boots through multiboot, reaches long mode and ring 3, and says HELLO."""
    evidence.value("HELLO", guest.hello)
    assert guest.hello.get("ring") == "3", f"the guest reports running in ring {guest.hello.get('ring')}"


def test_guest_lists_its_pci_devices(guest, evidence):
    """The guest enumerates PCI bus 0 and finds the host bridge at 00:00.0."""
    devices = guest.channel.command("pci").data
    evidence.table("PCI devices seen by the guest", devices)
    bridges = [d for d in devices if d[0] == "00:00.0" and d[2] == "class=060000"]
    assert bridges, f"no host bridge at 00:00.0 among the guest's PCI devices: {devices}"


EXIT_STATUS = 42  # not 0: what a debug-exit port that ignores its value would report


def test_guest_exit_status_reaches_the_host(guest):
    """A status the guest writes to the debug-exit port is the status the runner reports."""
    guest.channel.command(f"exit {EXIT_STATUS}")
    status = guest.wait(timeout=30)
    assert status == EXIT_STATUS, (
        f"the guest wrote {EXIT_STATUS} to the debug-exit port (0xf4); the runner reported "
        f"{status}")

