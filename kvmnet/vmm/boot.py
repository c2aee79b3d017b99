"""What a machine boots: the suite's multiboot guest (multiboot.MultibootImage) or a Linux
kernel (linux_boot.LinuxImage). The machine loads it into guest memory when it starts and
again at every warm reset, once its PCI functions are plugged (a Linux boot writes their
INTx wiring into its MP table), and enters it where it says."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Entry:
    """Where the boot vCPU starts and the general registers (rax=..., rsi=...) it starts
    with; the others are 0. In 32-bit protected mode, paging off; or, with long_mode
    (cr3, gdt base, gdt limit), in 64-bit mode on those page tables and that GDT."""
    eip: int
    regs: dict = field(default_factory=dict)
    long_mode: tuple | None = None


class BootImage(Protocol):
    def load(self, memory, cpus: int, pci_intx: Sequence[tuple[int, int, int]]) -> Entry:
        """Write the image into memory for a machine of cpus vCPUs whose PCI functions'
        INTx pins are wired as pci_intx says: (slot, pin 1-4, GSI) each."""
