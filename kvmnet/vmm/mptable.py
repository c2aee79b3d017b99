"""An Intel MultiProcessor Specification 1.4 table: how a Linux guest without ACPI finds its
CPUs, the IOAPIC and the wiring of every interrupt line to it.

Why an MP table and not ACPI: Linux needs only the MP table to bring up the IOAPIC and to
route PCI INTx (arch/x86/kernel/mpparse.c reads the floating pointer, the processors, the
buses, the IOAPIC and the I/O interrupt entries; pci_irq.c looks a function's INTx up among
those entries by bus, slot and pin), and the table is a few hundred bytes with one
checksum each. ACPI would need an RSDP, an RSDT or XSDT, a MADT for the same facts, an FADT
and a DSDT in AML for PCI routing. Linux falls back to the MP table when it finds no RSDP
(the built-in VMM writes none).

The wiring is the VM's: KVM's in-kernel IOAPIC at IOAPIC_ADDRESS with 24 pins, ISA IRQ n on
pin n (KVM's default routing, the PIT's IRQ 0 included), each PCI function's INTx on the
GSI kvmnet.vmm.irq.pci_gsi gave its slot, level-triggered and active high (KVM asserts the
line as the device model sets it), and the LAPICs' LINT0 as ExtINT (the PIC) and LINT1 as
NMI, as on a PC.

The floating pointer and the table sit at ADDRESS, the start of the last KiB of base
memory: one of the places Linux scans (mpparse.c, smp_scan_config), and reserved in the
e820 map (linux_boot.py).
"""

import struct

ADDRESS = 0x9FC00  # 639 KiB: the last KiB of base memory
LAPIC_ADDRESS, IOAPIC_ADDRESS = 0xFEE0_0000, 0xFEC0_0000
SPEC_REV = 4  # 1.4
LAPIC_VERSION, IOAPIC_VERSION = 0x14, 0x11
CPU_ENABLED, CPU_BOOT = 0x1, 0x2
CPU_SIGNATURE = 0x600  # family 6: what the processor entries say, not what CPUID does
CPU_FEATURES = 0x201  # FPU and APIC present
PCI_BUS, ISA_BUS = 0, 1
ISA_IRQS = 16
INT, NMI, EXTINT = 0, 1, 3
CONFORMS = 0x0  # polarity and trigger as the bus defines them (ISA: edge, active high)
LEVEL_ACTIVE_HIGH = 0x1 | 0x3 << 2
ALL_LAPICS = 0xFF
# entry types
PROCESSOR, BUS, IOAPIC, IO_INTERRUPT, LOCAL_INTERRUPT = range(5)


class TableError(ValueError):
    """A table that cannot be written as asked (too many CPUs, a bad INTx wiring)."""


def _checksummed(data, at):
    """data with the byte at `at` set so that all bytes sum to 0 (mod 256)."""
    data = bytearray(data)
    data[at] = -sum(data) & 0xFF
    return bytes(data)


def entries(cpus, pci_intx):
    """The configuration table's entries, in the order the spec asks: processors, buses,
    IOAPICs, I/O interrupts, local interrupts."""
    ioapic_id = cpus  # after the LAPIC ids 0..cpus-1
    out = [struct.pack("<BBBBII8x", PROCESSOR, cpu, LAPIC_VERSION,
                       CPU_ENABLED | (CPU_BOOT if cpu == 0 else 0), CPU_SIGNATURE,
                       CPU_FEATURES) for cpu in range(cpus)]
    out += [struct.pack("<BB6s", BUS, PCI_BUS, b"PCI   "),
            struct.pack("<BB6s", BUS, ISA_BUS, b"ISA   ")]
    out.append(struct.pack("<BBBBI", IOAPIC, ioapic_id, IOAPIC_VERSION, 1, IOAPIC_ADDRESS))
    out += [struct.pack("<BBHBBBB", IO_INTERRUPT, INT, CONFORMS, ISA_BUS, irq, ioapic_id, irq)
            for irq in range(ISA_IRQS)]
    for slot, pin, gsi in pci_intx:
        if not (0 <= slot < 32 and 1 <= pin <= 4 and ISA_IRQS <= gsi < 24):
            raise TableError(f"PCI slot {slot} pin {pin} on GSI {gsi}: slots are 0-31, pins "
                             f"1-4 (INTA#-INTD#), PCI GSIs {ISA_IRQS}-23")
        out.append(struct.pack("<BBHBBBB", IO_INTERRUPT, INT, LEVEL_ACTIVE_HIGH, PCI_BUS,
                               slot << 2 | (pin - 1), ioapic_id, gsi))
    out += [struct.pack("<BBHBBBB", LOCAL_INTERRUPT, EXTINT, CONFORMS, ISA_BUS, 0,
                        ALL_LAPICS, 0),
            struct.pack("<BBHBBBB", LOCAL_INTERRUPT, NMI, CONFORMS, ISA_BUS, 0, ALL_LAPICS, 1)]
    return out


def build(cpus=1, pci_intx=()):
    """The floating pointer followed by the configuration table, to be written at ADDRESS.
    pci_intx: (slot, pin, gsi) of each PCI function with an INTx pin, on bus 0."""
    if not 1 <= cpus <= 254:  # LAPIC ids 0..cpus-1 and the IOAPIC's id after them
        raise TableError(f"{cpus} CPUs: an MP table names 1 to 254")
    items = entries(cpus, pci_intx)
    body = b"".join(items)
    table_at = ADDRESS + 16
    header = struct.pack("<4sHBB8s12sIHHIHBB", b"PCMP", 44 + len(body), SPEC_REV, 0,
                         b"KVMNET  ", b"KVMNET VMM  ", 0, 0, len(items), LAPIC_ADDRESS, 0, 0,
                         0)
    table = _checksummed(header + body, 7)
    if 16 + len(table) > 1024:
        raise TableError(f"an MP table of {len(table)} bytes does not fit in the last KiB "
                         "of base memory")
    # 16 bytes: signature, table address, length in 16-byte units, revision, checksum,
    # feature bytes 1-5 (all 0: the table is there, no IMCR).
    pointer = _checksummed(struct.pack("<4sIBBB5x", b"_MP_", table_at, 1, SPEC_REV, 0), 10)
    return pointer + table

