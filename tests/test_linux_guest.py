"""A Linux guest in the built-in VMM: the Debian kernel booted by the Linux boot protocol
(kvmnet.vmm.linux_boot) with the MP table as its only platform description, its own NIC
drivers bound to kvmnet's device models, reading the MACs they were given, and carrying
test frames both ways, interrupt-driven, under kvmnet-agent's protocol.

Booting needs a fast guest ring 0: inside the kernel lab (`pytest tests/test_linux_guest.py
--kvmnet-kernel <package>`); on a host whose guest ring 0 is emulated the boot checks skip,
and only the initramfs is checked."""

import socket
import time

import pytest

from kvmnet import lab, testframe
from kvmnet.guest import GuestChannel
from kvmnet.lab import kernel
from kvmnet.lab.cpio import S_IFMT, S_IFREG
from kvmnet.lab.lab import DEFAULT_CACHE
from kvmnet.linux_guest import LINUX_NIC_MODULES, READY, kernel_guest, lab_guest
from kvmnet.kvm import Kvm
from kvmnet.runners.builtin import boot_image
from kvmnet.runners.nics import Nic, builtin_device
from kvmnet.vmm.machine import Machine
from support.nic_rig import Backend  # a datagram socket: frames go to the test's end

PACKAGE = "linux-image-6.1.0-47-amd64-unsigned"  # outside the lab: the lab's "old" kernel
MiB = 1 << 20
BOOT_TIMEOUT = 1200  # seconds: a nested guest under the lab's TCG
# The models, each with the MAC Linux's driver must read from it, and the driver that binds.
MODELS = [("rtl8139", "02:6b:4c:00:00:01", "8139too"), ("e1000", "02:6b:4c:00:00:02", "e1000"),
          ("virtio", "02:6b:4c:00:00:03", "virtio_net"),
          ("virtio-legacy", "02:6b:4c:00:00:04", "virtio_net")]

in_lab = pytest.mark.skipif(not lab.inside(), reason=(
    "a Linux guest boots only where guest ring 0 is fast: inside the kernel lab "
    "(pytest tests/test_linux_guest.py --kvmnet-kernel <package> runs it there)"))


PEER = "02:6b:4c:00:00:fe"
FRAMES = 200  # per stream: the lab's nested guest moves a few hundred frames a second
BURST = 32  # frames the peer sends at once: fewer than NAPI's 64 a round


@pytest.fixture(scope="module")
def linux_image(tmp_path_factory):
    """The lab kernel's Linux guest; outside the lab, PACKAGE's (for its initramfs)."""
    agent_dir = tmp_path_factory.mktemp("agent")
    if lab.inside():
        return lab_guest(agent_dir)
    return kernel_guest(kernel.resolve(PACKAGE, DEFAULT_CACHE), agent_dir)


def cpio_members(path):
    """(name, mode) of each member of a newc archive."""
    data, at, out = path.read_bytes(), 0, []
    while True:
        fields = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name = data[at + 110:at + 110 + name_size - 1].decode()
        if name == "TRAILER!!!":
            return out
        out.append((name, mode))
        at = (at + 110 + name_size + 3) & ~3
        at = (at + size + 3) & ~3


def test_the_initramfs_carries_the_kernels_nic_drivers_in_load_order(linux_image, tmp_path):
    members = dict(cpio_members(linux_image.initramfs(tmp_path / "initrd")))
    assert members["init"] & S_IFMT == S_IFREG and members["bin/busybox"] & 0o111
    loaded = [name.split("-", 1)[1].removesuffix(".ko") for name in members
              if name.startswith("modules/") and name != "modules/order"]
    for module in LINUX_NIC_MODULES:
        assert module in loaded or module not in linux_image.plan.files, loaded
    # each after what it depends on: virtio before virtio_pci, mii before 8139too
    assert loaded.index("virtio") < loaded.index("virtio_pci") < loaded.index("virtio_net")
    assert loaded.index("mii") < loaded.index("8139too")


@pytest.fixture(scope="module")
def linux_guest(linux_image, tmp_path_factory):
    """A started machine with the four models, each on a datagram socketpair whose other
    end is the test's (the peer); (machine, channel, {model: peer socket})."""
    image = boot_image(linux_image.boot(tmp_path_factory.mktemp("linux")))
    ends, peers = [], {}
    with Kvm() as kvm, Machine(kvm, image, 256 * MiB) as machine:
        for model, mac, _ in MODELS:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            ends += [ours, theirs]
            ours.setblocking(False)
            theirs.settimeout(30)
            peers[model] = theirs
            machine.plug(builtin_device(Nic(model, mac, Backend(ours.fileno()))))
        channel = GuestChannel(machine.uart.feed)
        machine.on_serial(channel.receive, channel.end)
        machine.start()
        booted = Booted(machine, channel, peers)
        try:
            booted.milestones = wait_for(machine, READY, BOOT_TIMEOUT)
        except pytest.fail.Exception as e:  # every check reports it, none waits again
            booted.failure = str(e)
        yield booted
    for end in ends:
        end.close()


class Booted:
    """The module's Linux guest once it booted, or why it did not."""

    def __init__(self, machine, channel, peers):
        self.machine, self.channel, self.peers = machine, channel, peers
        self.milestones, self.failure = None, None

    def ready(self):
        if self.failure:
            pytest.fail(f"the Linux guest did not boot: {self.failure}")
        return self.machine, self.channel, self.peers


# Milestones of a boot in the serial log, timed as they appear (for the report).
MILESTONES = (b"Linux version", b"Run /init",
              b"kvmnet-linux: nic", READY)


def wait_for(machine, marker, timeout):
    """Wait until marker is in the serial log; {milestone: seconds} seen on the way."""
    started, seen = time.monotonic(), {}
    deadline = started + timeout
    while marker not in machine.serial_log:
        for milestone in MILESTONES:
            if milestone not in seen and milestone in machine.serial_log:
                seen[milestone] = round(time.monotonic() - started, 1)
        if not machine.running:
            pytest.fail(f"the Linux guest stopped before {marker!r}:\n{machine.serial_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {marker!r} after {timeout} s (milestones: {seen}):\n"
                        f"{machine.serial_text()}")
        time.sleep(0.5)
    seen[marker] = round(time.monotonic() - started, 1)
    return seen


@in_lab
def test_linux_boots_on_the_mp_table_and_binds_its_drivers_to_our_models(linux_guest):
    machine, channel, _ = linux_guest.ready()
    log = machine.serial_text()
    print(f"boot milestones (s): {linux_guest.milestones}")
    assert "Intel MultiProcessor Specification v1.4" in log, log
    assert "IOAPIC[0]" in log, log
    # init's lines come through the kernel log: "[  14.96] kvmnet-linux: nic eth0 ..."
    nics = [line.split() for line in log.splitlines() if "kvmnet-linux: nic " in line]
    found = {fields[-1].removeprefix("mac="): fields[-2].removeprefix("driver=")
             for fields in nics}
    for model, mac, driver in MODELS:
        assert found.get(mac) == driver, (
            f"{model}: Linux's {driver} did not come up with MAC {mac}; NICs Linux "
            f"reported: {found or 'none'}\n{log}")
    channel.wait_hello(120)
    listed = [row for row in channel.command("nics", timeout=60).data]
    assert [(row[1], row[3]) for row in listed] == [
        (model, "mac=" + mac.replace(":", "")) for model, mac, _ in MODELS], listed


def peer_frames(peer, count, seed):
    """The test frames of stream seed the peer socket gets, up to count (others skipped)."""
    got = []
    while len(got) < count:
        try:
            frame = peer.recv(65536)
        except TimeoutError:
            break
        parsed = testframe.parse(frame)
        if parsed and parsed[1] == seed:
            got.append(frame)
    return got


@in_lab
@pytest.mark.parametrize("index, model", [(i, m) for i, (m, _, _) in enumerate(MODELS)])
def test_linux_drivers_carry_test_frames_both_ways_on_our_models(linux_guest, index, model):
    machine, channel, peers = linux_guest.ready()
    mac, peer, seed = MODELS[index][1], peers[model], 0x4C00 + index
    sent = channel.command(f"send {index} {FRAMES} 64 {PEER} {seed}", timeout=120).fields
    frames = peer_frames(peer, FRAMES, seed)
    assert sent["sent"] == FRAMES and len(frames) == FRAMES, (
        f"{model}: Linux's driver sent {sent['sent']} of {FRAMES} frames and the peer got "
        f"{len(frames)}")
    for frame in frames:
        assert testframe.check(frame, seed) is None, (model, testframe.check(frame, seed))
    pending = channel.begin(f"recv {index} {FRAMES} {seed + 1}")
    time.sleep(1)  # the agent is reading before the first frame
    for seq in range(FRAMES):
        peer.send(testframe.build(mac, PEER, seq, seed + 1, 64))
        if seq % BURST == BURST - 1:
            time.sleep(0.2)  # NAPI takes a burst in one round (kvmnet.runners.images)
    try:
        got = pending.result(60).fields
    except TimeoutError:  # frames lost: the agent still waits for them until told
        pending.interrupt()
        got = pending.result(10).fields
    assert (got["got"], got["bad"], got["lost"]) == (FRAMES, 0, 0), (
        f"{model}: of {FRAMES} frames sent to Linux's driver: {got}")
