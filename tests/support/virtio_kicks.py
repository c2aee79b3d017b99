"""Whether a virtio-net guest's kicks exit to the VMM: the exits a built-in VMM guest took on
its first NIC's notify addresses (the modern notify region's RX and TX queues, and the
legacy queue-notify port where the device has one), for tests that expect KVM to catch
them (ioeventfd)."""


def notify_exits(guest):
    device = guest.nics[0]
    modern, legacy = device.bars[4], device.bars[0]
    addresses = {("MMIO", modern.address + 0x3000 + 4 * q) for q in range(2)}
    if legacy is not None:
        addresses.add(("IO", legacy.address + 0x10))
    return {a: n for a, n in guest.exits.items() if a in addresses}
