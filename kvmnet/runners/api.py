"""What every runner and every guest it starts provide, so that fixtures, checks and
benchmarks treat the built-in VMM and QEMU alike (typing.Protocol: structural, checked
by mypy, nothing to inherit)."""

from typing import Protocol, Sequence

from kvmnet.guest import GuestChannel
from kvmnet.runners.images import GuestImage


class Guest(Protocol):
    """A started guest: its control channel, its exit status, what it printed."""

    channel: GuestChannel

    @property
    def nics(self) -> Sequence:
        """The VMM's own device models of its NICs, in the guest's NIC order: the built-in
        VMM's (kvmnet.devices); empty under a VMM whose models are not kvmnet's (QEMU)."""

    def reboot(self, timeout: float) -> dict:
        """A warm reset of the whole machine, through the VMM, as a system reset does it:
        the guest boots again (its channel goes on) and says HELLO, whose fields this
        returns (GuestChannel.wait_hello). Only for a guest started rebootable."""

    def wait(self, timeout: float) -> int:
        """The guest's exit status, once it has ended (TimeoutError after timeout s)."""

    def serial_text(self) -> str:
        """Everything it wrote to COM1 (and, under QEMU, what QEMU said on stderr)."""

    def close(self) -> None:
        """Stop it and release everything; also on leaving a `with` block."""

    def __enter__(self) -> "Guest": ...

    def __exit__(self, *exc) -> None: ...


class Runner(Protocol):
    """A VMM that boots a guest: `name` is its dimension id (builtin, qemu)."""

    name: str

    def start(self, image: GuestImage, nics: Sequence = (), rebootable: bool = False) -> Guest:
        """Boot image (the suite's image, or a Linux guest: kvmnet.runners.images) with nics
        (kvmnet.runners.nics.Nic), started: it says HELLO (within hello_timeout(image)).
        rebootable: Guest.reboot may reset it (under QEMU that replaces -no-reboot, so a
        guest's own reset, a triple fault, then reboots it too instead of ending it)."""
