"""The NIC models a guest can be given, and how each runner builds one.

A Nic names a model, a MAC and a backend (kvmnet.backends: a tap the topology made). The
built-in VMM plugs its own device model onto the backend; QEMU gets the backend's fd as
`-netdev tap,fd=N` and its own device model of the same name, so one test compares the two.

A virtio NIC may have a vhost backend (kvmnet.backends.vhost): the built-in VMM hands its
rings to the backend's frontend; QEMU gets `-netdev vhost-user` on the backend's socket
(with guest RAM as a shared memfd, which vhost-user needs), or its tap with vhost=on.
"""

from dataclasses import dataclass, field

from kvmnet.runners.images import IMAGE_STREAM_WINDOW

MODELS = ("rtl8139", "e1000", "virtio", "virtio-legacy")

# The guest drives "virtio" through the modern interface (1af4:1041) and "virtio-legacy"
# through the I/O BAR of a transitional device (1af4:1000, QEMU's default on -M pc).
QEMU_DEVICES = {
    "rtl8139": "rtl8139",
    "e1000": "e1000",
    "virtio": "virtio-net-pci,disable-legacy=on",
    "virtio-legacy": "virtio-net-pci,disable-modern=off,disable-legacy=off",
}


@dataclass(frozen=True)
class Nic:
    model: str
    mac: str
    backend: object
    mtu: int = 1500
    faults: tuple = ()  # test-only fault switches of the built-in model
    # QEMU only: properties of its device model ("mrg_rxbuf=off"): a device offering less,
    # as guests meet on other hosts
    qemu_properties: tuple = ()

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"NIC model {self.model!r}: known models are {', '.join(MODELS)}")

    @property
    def uses_vnet_hdr(self):
        return self.model.startswith("virtio")


def builtin_device(nic):
    """The built-in VMM's device model for nic."""
    if nic.model == "e1000":
        from kvmnet.devices.e1000 import E1000
        return E1000(nic.mac, nic.backend, faults=nic.faults)
    if nic.model == "rtl8139":
        from kvmnet.devices.rtl8139 import Rtl8139
        return Rtl8139(nic.mac, nic.backend, faults=nic.faults)
    from kvmnet.devices.virtio_net import VirtioNetPci
    vhost = nic.backend.vhost
    if vhost is not None and not nic.uses_vnet_hdr:
        raise ValueError(f"a vhost backend serves virtio NICs, not {nic.model}")
    return VirtioNetPci(nic.mac, nic.backend, faults=nic.faults,
                        transitional=nic.model == "virtio-legacy", mtu=nic.mtu, vhost=vhost)


def qemu_arguments(nics, memory_mib=None):
    """(QEMU arguments, fds QEMU must inherit) for nics. memory_mib: the guest's RAM, which
    a vhost-user NIC needs as a shared memfd backend."""
    args, fds, shared_memory = [], [], False
    for i, nic in enumerate(nics):
        if nic.faults:
            raise ValueError("fault switches exist only in the built-in models")
        socket_path = nic.backend.socket_path
        if socket_path is not None:
            if not shared_memory:
                shared_memory = True
                args += ["-object", f"memory-backend-memfd,id=mem,size={memory_mib}M,share=on",
                         "-numa", "node,memdev=mem"]
            args += ["-chardev", f"socket,id=c{i},path={socket_path}",
                     "-netdev", f"vhost-user,id=n{i},chardev=c{i}",
                     "-device", f"{QEMU_DEVICES[nic.model]},netdev=n{i},mac={nic.mac}"]
            continue
        fd = nic.backend.inheritable_fd()
        fds.append(fd)
        extra = f",host_mtu={nic.mtu}" if nic.uses_vnet_hdr and nic.mtu != 1500 else ""
        extra += "".join(f",{p}" for p in nic.qemu_properties)
        vhost = "on" if nic.backend.vhost is not None else "off"
        args += ["-netdev", f"tap,id=n{i},fd={fd},vhost={vhost}",
                 "-device", f"{QEMU_DEVICES[nic.model]},netdev=n{i},mac={nic.mac}{extra}"]
    return args, fds


@dataclass
class NicGuest:
    """A booted guest (a runner's Guest) and what streams and checks need to know of its NIC."""

    guest: object
    model: str
    mac: str
    index: int = 0
    # Frames a peer's stream keeps in flight to this NIC (kvmnet.runners.images.stream_window).
    stream_window: int = IMAGE_STREAM_WINDOW
    # Called with no arguments after each reboot, once the NIC is up again: whoever looked
    # at the NIC after boot (a fixture) looks again.
    on_reboot: list = field(default_factory=list)

    def command(self, text, timeout=60):
        return self.guest.channel.command(text, timeout)

    def begin(self, text):
        return self.guest.channel.begin(text)

    # The NIC commands of guestimg/PROTOCOL.md, typed: what checks say, not how it is said.
    def set_rx_mode(self, mode: str) -> None:
        """normal, promisc or allmulti (`rxmode`)."""
        self.command(f"rxmode {self.index} {mode}")

    def join(self, *groups: str) -> None:
        """Set the NIC's multicast list to groups (`mcast`)."""
        self.command(" ".join([f"mcast {self.index}", *groups]))

    def set_mac(self, mac: str) -> None:
        """Give the NIC another station address (`mac`); frames to it are the guest's now."""
        self.command(f"mac {self.index} {mac}")
        self.mac = mac

    def set_mtu(self, mtu: int) -> None:
        self.command(f"mtu {self.index} {mtu}")

    def reset(self) -> None:
        """Reset the NIC through its driver and bring it up again as at boot (`reset`)."""
        self.command(f"reset {self.index}")

    def reboot(self, timeout: float = 30) -> None:
        """Reboot the guest, warm, through its VMM (Guest.reboot: a guest started
        rebootable); it brings its NICs up again from their reset state. GuestError if this
        NIC did not come up (its commands answer `nicfailed`)."""
        self.guest.reboot(timeout)
        self.counters()
        for listener in self.on_reboot:
            listener()

    def kick(self, count: int) -> int:
        """Write count notifications to each virtio data queue; how many were written."""
        return self.command(f"kick {self.index} {count}").fields["kicks"]

    def send(self, count: int, size: int, dst: str, seed: int):
        """Send count test frames of size to dst, unacknowledged (`send`); the reply."""
        return self.command(f"send {self.index} {count} {size} {dst} {seed}")

    def start_recv(self, count: int, seed: int):
        """Receive count frames of stream seed, unacknowledged (`recv`); the Pending."""
        return self.begin(f"recv {self.index} {count} {seed}")

    def start_serving(self, ip: str):
        """Answer ARP and ICMP echo for ip until the Pending returned is interrupted."""
        return self.begin(f"serve {self.index} {ip}")

    def start_irq(self, path: str, frames: int):
        """Take frames with interrupts on path (intx, msix); the Pending, once armed."""
        pending = self.begin(f"irq {self.index} {path} {frames}")
        armed = pending.data()
        if armed != ["armed"]:
            raise RuntimeError(f"the guest did not arm its interrupt count: {armed}")
        return pending

    # Traffic through the guest's own IP stack: kvmnet-agent's commands (the suite's image
    # has no IP stack and answers ERR unknown).
    def set_inet(self, ip: str) -> dict:
        """Give the NIC IPv4 address ip/16, link-local (`inet`); the offloads its driver
        has on: {'txcsum': 0|1, 'tso': 0|1, 'rxcsum': 0|1}."""
        return self.command(f"inet {self.index} {ip}").fields

    def udp_send(self, dst: str, port: int, size: int, count: int, seed: int) -> int:
        """Send count datagrams of size bytes to dst:port through the guest's stack, the
        k-th being stream seed + k (`udpsend`); how many the stack took."""
        return self.command(f"udpsend {self.index} {dst} {port} {size} {count} {seed}"
                            ).fields["sent"]

    def tcp_send(self, dst: str, port: int, total: int, seed: int, timeout: float = 120):
        """Connect to dst:port, send total bytes of stream seed and wait for the peer to
        close (`tcpsend`); (bytes sent, the connection's MSS)."""
        fields = self.command(f"tcpsend {self.index} {dst} {port} {total} {seed}",
                              timeout).fields
        return fields["sent"], fields["mss"]

    def start_udp_recv(self, port: int, count: int, seed: int):
        """Receive datagrams on port through the guest's stack until count arrived or the
        Pending is interrupted (`udprecv`); the Pending, once the socket is bound. Its
        result's fields: got (intact), bad (altered), csumerrors (the stack's drops for a
        bad checksum, from Udp InCsumErrors)."""
        pending = self.begin(f"udprecv {self.index} {port} {count} {seed}")
        armed = pending.data()
        if armed != ["armed"]:
            raise RuntimeError(f"the guest did not bind its UDP socket: {armed}")
        return pending

    def counters(self):
        """The guest driver's counters (the `counters` command)."""
        return self.command(f"counters {self.index}").fields

    def read_mac(self):
        """The MAC the guest's driver read from its NIC at bring-up (`nics`), lower case."""
        for words in self.command("nics").data:  # nic<i> <model> <bdf> mac=<12 hex> ...
            if words[0] == f"nic{self.index}":
                raw = dict(w.split("=", 1) for w in words if "=" in w)["mac"].lower()
                return ":".join(raw[i:i + 2] for i in range(0, 12, 2))
        raise LookupError(f"the guest lists no NIC {self.index}")

    def pci_found(self):
        """(COMMAND, (BAR0..BAR5)) of the NIC's PCI function as the guest found them at
        boot, before it touched anything (`pci`'s found=): what firmware or a reset left."""
        bdf = next(words[2] for words in self.command("nics").data
                   if words[0] == f"nic{self.index}")
        for words in self.command("pci").data:
            if words[0] == bdf:
                found = dict(w.split("=", 1) for w in words if "=" in w)["found"].split(",")
                return int(found[0], 16), tuple(int(v, 16) for v in found[1:])
        raise LookupError(f"the guest lists no PCI function {bdf}")

    def virtio_features(self):
        """(offered, accepted): the feature bits the virtio-net device offered when the guest
        driver read them at bring-up, and those the driver accepted (the `features` command)."""
        words = dict(w.split("=", 1) for w in self.command(f"features {self.index}").words
                     if "=" in w)
        return int(words["offered"], 16), int(words["accepted"], 16)

    def model_counters(self):
        """The built-in device model's counters; {} under QEMU."""
        nics = self.guest.nics
        return dict(nics[self.index].counters) if nics else {}
