"""The doorbell: a port's ioeventfd, and the same eventfd as an irqfd, as the performance
checks of KVM's in-kernel signalling use them; and each sampler failing when its path is
not there, rather than timing something else."""

import os

import pytest

from kvmnet.guest_image import build
from kvmnet.perf import measure
from kvmnet.perf.measure import SampleInvalid
from kvmnet.runners import BuiltinRunner
from kvmnet.vmm.doorbell import Doorbell

pytestmark = pytest.mark.needs_kvm

PORT, OTHER_PORT, VECTOR = 0x6B0, 0x6B8, 0x50


@pytest.fixture
def guest():
    with BuiltinRunner().start(build()) as started:
        started.channel.wait_hello(30)
        yield started


def test_writes_to_an_ioeventfd_port_signal_it_and_never_exit(guest):
    with Doorbell(guest.machine, PORT) as bell:
        guest.channel.command(f"exits 50 {PORT:#x}")
        assert bell.signals() == 50
    assert guest.exits["IO", PORT] == 0
    guest.channel.command(f"exits 5 {PORT:#x}")  # unwired: each write exits again
    assert guest.exits["IO", PORT] == 5


def test_the_same_eventfd_as_an_irqfd_answers_every_write_with_the_interrupt(guest):
    routes = len(guest.machine.msi_routes)
    with Doorbell(guest.machine, PORT, VECTOR):
        reply = guest.channel.command(f"doorbell {PORT:#x} 100")
        assert reply.fields == {"rounds": 100, "spurious": 0}
        assert len(guest.machine.msi_routes) == routes + 1
    assert len(guest.machine.msi_routes) == routes
    assert guest.exits["IO", PORT] == 0


def test_a_doorbell_closed_leaves_no_fd_and_its_port_exits_again(guest):
    fds = set(os.listdir("/proc/self/fd"))
    Doorbell(guest.machine, PORT, VECTOR).close()
    assert set(os.listdir("/proc/self/fd")) == fds
    reply = guest.channel.command(f"doorbell {PORT:#x} 1")
    assert reply.fields["rounds"] == 0 and guest.exits["IO", PORT] == 1


def test_the_ioeventfd_figure_fails_when_its_writes_exit_instead(guest):
    with Doorbell(guest.machine, OTHER_PORT) as elsewhere:
        elsewhere.port = PORT  # the sampler writes to PORT, which nothing catches
        with pytest.raises(SampleInvalid, match="caught 0 of 200 writes: the rest exited"):
            measure.ioeventfd_write(guest, elsewhere)
        elsewhere.port = OTHER_PORT


def test_the_irqfd_figure_fails_when_no_interrupt_answers(guest):
    with Doorbell(guest.machine, PORT) as no_irqfd:
        no_irqfd.vector = VECTOR
        with pytest.raises(SampleInvalid, match="0 of 200 writes to port 0x6b0 raised the "
                                                 "irqfd's interrupt at vector 0x50"):
            measure.irqfd_round_trip(guest, no_irqfd)
        no_irqfd.vector = None
