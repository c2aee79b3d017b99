"""Interrupt lines into the in-kernel irqchip.

INTx is level-triggered: a device says what its line is (`set(level)`), and the IOAPIC keeps
delivering while it stays high. A line shared by devices would need an OR of their levels;
this VMM gives each PCI slot a GSI of its own (16..23, IOAPIC-only pins), so none is shared.

A device lowers its line within the exit in which the guest acknowledges it (an ICR read, an
ISR write: the fast handler asks Python to attend before the vCPU runs on), so the line is
low before the guest's EOI. The guest still sees each level-triggered interrupt once more
after its EOI (`spurious` in its `irq` reply); QEMU's guests on the same hosts see the same
(measured 2026-11 on this kvm_pvm host: rtl8139 10 spurious for 10 interrupts under both
VMMs, with one KVM_IRQ_LINE rise per interrupt here), so it comes from the host's in-kernel
irqchip, not from this sequencing.
"""

import threading

FIRST_PCI_GSI, PCI_GSIS = 16, 8


def pci_gsi(slot):
    """The GSI (and IOAPIC pin) of INTA# on a PCI slot; the VMM writes it to Interrupt Line."""
    return FIRST_PCI_GSI + slot % PCI_GSIS


class IrqLine:
    """One level-triggered GSI, told to KVM only when its level changes."""

    def __init__(self, vm, gsi):
        self.vm, self.gsi = vm, gsi
        self.level = False
        self.raised = 0  # low-to-high transitions, for tests and counters
        self._lock = threading.Lock()

    def set(self, level):
        level = bool(level)
        with self._lock:
            if level == self.level:
                return
            self.level = level
            self.raised += level
            self.vm.irq_line(self.gsi, int(level))
