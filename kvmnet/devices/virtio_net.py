"""virtio-net (virtio 1.2, 5.1): the paravirtual NIC, on the PCI transport.

Queues: 0 receive, 1 transmit, 2 control. Every ring is walked in C (native/virtio_net.c):
TX on the vCPU thread when the driver kicks queue 1 (or on a TX thread, for kicks KVM
caught), RX on the device thread every NIC model has (kvmnet.devices.nic.NicCore: the
core's nic_run, which waits on the backend and on the driver's RX kicks), the control queue
on the vCPU thread, its few commands decided here: RX mode (promiscuous, all-multicast) and
the MAC tables.
The backend's fd must be non-blocking (kvmnet.backends' taps are): the C side reads it
until EAGAIN while it holds the device's lock.

The RX and TX rings can be handed to a vhost backend and taken back
(kvmnet.devices.virtio_vhost: VirtioNetPci.handoff / take_back); while they are away the
C datapath leaves them alone and its threads are stopped.

Fault switches (test only; each makes a conformance check fail when that check works):

    filter_bug       the unicast filter accepts any destination MAC
    lose_descriptor  one TX chain in 100, and the first after the rings come back from a
                     vhost backend, is returned as sent, but is not sent
    corrupt_rx       the last byte of every received frame is flipped
    no_ioeventfd     the TX queue's kicks are not caught by KVM: each exits to the VMM
    bad_vring_addr   a vhost backend is told a descriptor table one page off
    bad_tx_csum      the driver's checksum request (NEEDS_CSUM) is dropped from the header
                     the backend gets: the frame leaves with the partial sum the driver left
    tso_over_mss     a TSO frame is passed on with gso_size one more than the driver's
    rx_csum_trusted  every received frame is marked DATA_VALID: checksum verified

Offloads are offered only with a backend that takes a vnet header (a tap's), which then
does them: checksums (CSUM, GUEST_CSUM) and TCP segmentation of frames up to 64 KiB
(HOST_TSO4, HOST_TSO6); the device passes the header's requests on as they are.
"""

import errno
import os
import struct
import threading

from kvmnet.devices.nic import NicCore
from kvmnet.devices.virtio_pci import VirtioDevice, VirtioPci
from kvmnet.devices.virtio_vhost import VhostHandoff
from kvmnet.syscall import check, ffi, lib

DEVICE_ID = 1
RX, TX, CTRL = 0, 1, 2
F = {name: getattr(lib, name) for name in (
    "VIRTIO_NET_F_CSUM", "VIRTIO_NET_F_GUEST_CSUM", "VIRTIO_NET_F_MTU", "VIRTIO_NET_F_MAC",
    "VIRTIO_NET_F_MRG_RXBUF", "VIRTIO_NET_F_STATUS", "VIRTIO_NET_F_CTRL_VQ",
    "VIRTIO_NET_F_CTRL_RX", "VIRTIO_NET_F_CTRL_MAC_ADDR", "VIRTIO_RING_F_EVENT_IDX",
    "VIRTIO_NET_F_HOST_TSO4", "VIRTIO_NET_F_HOST_TSO6")}
S_LINK_UP = 1
CTRL_RX, CTRL_MAC = 0, 1
CTRL_RX_PROMISC, CTRL_RX_ALLMULTI = 0, 1
CTRL_MAC_TABLE_SET, CTRL_MAC_ADDR_SET = 0, 1
CTRL_OK, CTRL_ERR = 0, 1
FAULTS = {name: getattr(lib, f"NIC_FAULT_{name.upper()}") for name in (
    "filter_bug", "lose_descriptor", "corrupt_rx", "no_ioeventfd", "bad_vring_addr",
    "bad_tx_csum", "tso_over_mss", "rx_csum_trusted")}
ETH_HEADER = 14
TSO_FRAME_MAX = 65535 + ETH_HEADER + 4  # an IPv4 or IPv6 packet of the most, tagged
CTRL_COMMAND_MAX = 4096  # the longest: MAC_TABLE_SET, 2 + 2 x (4 + 64 x 6) bytes


class VirtioNet(NicCore, VirtioDevice):
    DEVICE_ID = DEVICE_ID
    QUEUES = 3
    FAULTS = FAULTS
    NAME = "virtio-net"
    # A batch thread does not preempt the sender on wakeup and takes what arrived meanwhile
    # in one go (kvmnet.devices.nic.batch_scheduled); the guest's virtio driver waits for
    # its interrupt (MSI-X through an irqfd), not a busy-polled register.
    BATCH = True

    def __init__(self, mac, backend, faults=(), mtu=1500, vhost=None):
        state = ffi.new("struct kvmnet_vnet *")
        check(lib.kvmnet_vnet_init(state, backend.fd, backend.vnet_hdr_size),
              "virtio-net state")
        super().__init__(mac, backend, faults, state=state, core=ffi.addressof(state, "core"))
        self.mtu = mtu
        self.vhost = vhost  # a kvmnet.backends.vhost.frontend.VhostFrontend the rings may be handed to
        self.handed_off = False
        self.transport = None  # set by VirtioNetPci
        tx_max = max(mtu + ETH_HEADER, TSO_FRAME_MAX if backend.vnet_hdr_size else 0)
        self._buffers = [ffi.new("unsigned char[]", size + 32)
                         for size in (mtu + ETH_HEADER, tx_max)]
        state.rx_buf, state.tx_buf = self._buffers
        self._ctrl_buf = ffi.new("unsigned char[]", CTRL_COMMAND_MAX)
        state.max_frame = state.max_tx = mtu + ETH_HEADER
        state.rx_call_fd = state.tx_call_fd = -1  # set by the transport
        # RX kicks signal the core's wake eventfd (nic_run's), TX kicks their own.
        self._tx_kick = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._tx_stop = ffi.new("int *")
        self._tx_thread = None
        self.reset()

    # What the transport asks of a device.
    def features(self):
        offered = [F[name] for name in (
            "VIRTIO_NET_F_MAC", "VIRTIO_NET_F_STATUS", "VIRTIO_NET_F_MRG_RXBUF",
            "VIRTIO_NET_F_CTRL_VQ", "VIRTIO_NET_F_CTRL_RX", "VIRTIO_NET_F_CTRL_MAC_ADDR",
            "VIRTIO_RING_F_EVENT_IDX", "VIRTIO_NET_F_MTU")]
        if self.backend.vnet_hdr_size:  # offloads the backend can finish, or pass on
            offered += [F["VIRTIO_NET_F_CSUM"], F["VIRTIO_NET_F_GUEST_CSUM"],
                        F["VIRTIO_NET_F_HOST_TSO4"], F["VIRTIO_NET_F_HOST_TSO6"]]
        ours = sum(1 << bit for bit in offered)
        return self.vhost.offer(ours) if self.vhost is not None else ours

    def config(self):
        """mac, status, max_virtqueue_pairs, mtu."""
        return struct.pack("<6sHHH", bytes(self._state.filter.mac), S_LINK_UP, 1, self.mtu)

    def write_config(self, offset, data):
        # Legacy drivers without CTRL_MAC_ADDR set the address by writing it here.
        if offset < 6:
            with self.lock:
                mac = bytearray(self._state.filter.mac)
                mac[offset:offset + len(data)] = data[:6 - offset]
                self._state.filter.mac = list(mac)

    def reset(self):
        with self.lock:
            state = self._state
            for q in (state.rx, state.tx, state.ctrl):
                ffi.memmove(ffi.addressof(q), bytes(ffi.sizeof(q)), ffi.sizeof(q))
            ffi.memmove(ffi.addressof(state.filter), bytes(ffi.sizeof(state.filter)),
                        ffi.sizeof(state.filter))
            state.filter.mac = list(self.mac)
            lib.nic_rx_drop_held(self.core)  # a frame from before the reset is not delivered
            state.max_tx = state.max_frame
            self.negotiated = 0

    def activate(self, features, queues):
        with self.lock:
            state = self._state
            self.negotiated = features
            version_1 = bool(features >> 32 & 1)
            state.mergeable = bool(features >> F["VIRTIO_NET_F_MRG_RXBUF"] & 1)
            state.guest_hdr = 12 if version_1 or state.mergeable else 10
            tso = features & (1 << F["VIRTIO_NET_F_HOST_TSO4"] | 1 << F["VIRTIO_NET_F_HOST_TSO6"])
            state.max_tx = TSO_FRAME_MAX if tso else state.max_frame
            event_idx = bool(features >> F["VIRTIO_RING_F_EVENT_IDX"] & 1)
            for ring, q in ((state.rx, queues[RX]), (state.tx, queues[TX]),
                            (state.ctrl, queues[CTRL])):
                ring.desc, ring.avail, ring.used = q.desc, q.driver, q.device
                ring.size = q.size if q.enabled else 0
                ring.event_idx = event_idx
        self.notify(RX)
        self.transport.activated()

    def notify(self, index):
        if self.handed_off and index in (RX, TX):
            os.eventfd_write(self.kick_fd(index), 1)  # a kick that exited: pass it on
        elif index == TX:
            irq = check(lib.kvmnet_vnet_tx(self._state), "virtio-net TX")
            if irq & lib.KVMNET_VNET_TX_FULL:  # the TX thread sends the rest when it can
                os.eventfd_write(self._tx_kick, 1)
            self._after(TX, irq & ~lib.KVMNET_VNET_TX_FULL, self._state.tx)
        elif index == RX:
            self.kick()
        elif index == CTRL:
            self._control()

    def notify_fd(self, index):
        if index == TX and "no_ioeventfd" in self.faults:
            return None
        return self.kick_fd(index)

    def kick_fd(self, index):
        """The eventfd the queue's kicks signal (its ioeventfd); None for the control queue."""
        return {RX: self.core.wake_fd, TX: self._tx_kick}.get(index)

    def _after(self, index, irq, ring):
        if irq:
            self.transport.interrupt(index)
        if ring.broken == 1:  # a malformed ring: tell the driver once (virtio 1.2, 2.1.2)
            ring.broken = 2
            self.transport.needs_reset()

    # Start and close come through the transport from the machine.
    def start(self):
        """The RX thread (nic_run), and the TX thread that serves kicks KVM caught
        (ioeventfd)."""
        super().start()
        if self._tx_thread is None:
            self._tx_stop[0] = 0
            self._tx_thread = threading.Thread(target=self._tx_run, daemon=True,
                                               name=f"kvmnet-{self.NAME}-tx")
            self._tx_thread.start()

    @property
    def threads(self):
        return super().threads + ([self._tx_thread] if self._tx_thread is not None else [])

    def _tx_run(self):
        # Not SCHED_BATCH: measured no better, at 64 B worse.
        try:
            while not self._tx_stop[0]:
                irq = check(lib.kvmnet_vnet_tx_run(self._state, self._tx_kick, self._tx_stop),
                            "virtio-net TX")
                self._after(TX, irq, self._state.tx)
        except BaseException as e:  # kept for the test or machine that asks
            self.thread_error = e

    def attend(self):
        """nic_run returned: an RX interrupt with no call fd to signal, or a broken ring."""
        with self.lock:
            bits, self.core.attention = self.core.attention, 0
        self._after(RX, bits & lib.KVMNET_VNET_ATTENTION_RX, self._state.rx)

    def stop(self):
        """Stop the RX and TX threads."""
        super().stop()
        if self._tx_thread is not None:
            self._tx_stop[0] = 1
            os.eventfd_write(self._tx_kick, 1)
            self._tx_thread.join()
            self._tx_thread = None

    def close(self):
        if self.closed:
            return
        self.stop()
        os.close(self._tx_kick)
        super().close()  # closes the core's wake eventfd

    def set_call_fds(self, rx, tx):
        """The eventfds the datapath signals for a queue's interrupt (irqfds, or the
        transport's call watcher); -1: it returns to be asked instead."""
        self._state.rx_call_fd, self._state.tx_call_fd = rx, tx

    # The RX and TX rings, for a vhost handoff (kvmnet.devices.virtio_vhost): the C
    # datapath lets them go, and takes them back at the indexes it is given.
    def release_rings(self):
        """Stop the datapath and let its rings go: ({index: (size, desc, avail, used)} of
        those set up, {index: the next available entry}, whether a frame read from the
        backend but not yet delivered was dropped). The C datapath no longer touches them."""
        self.stop()
        rings, bases = {}, {}
        with self.lock:
            state = self._state
            dropped = bool(lib.nic_rx_drop_held(self.core))
            for index, ring in ((RX, state.rx), (TX, state.tx)):
                if ring.size:
                    rings[index] = (ring.size, ring.desc, ring.avail, ring.used)
                    bases[index] = ring.last_avail
                ring.size = 0
            self.handed_off = True
        return rings, bases, dropped

    def resume_rings(self, rings, bases):
        """Take rings back ({index: (size, desc, avail, used)}), each resuming at bases[index]
        (or where it stopped) with the used index the guest's memory holds, and restart the
        datapath; kicks a backend consumed are looked at again."""
        with self.lock:
            state = self._state
            for index, (size, desc, avail, used) in rings.items():
                ring = state.rx if index == RX else state.tx
                ring.desc, ring.avail, ring.used = desc, avail, used
                used_idx = struct.unpack("<H", self.memory.read(used + 2, 2))[0]
                ring.last_avail = bases.get(index, ring.last_avail)
                ring.used_idx = ring.signalled = used_idx
                ring.size = size
            if "lose_descriptor" in self.faults and TX in bases:
                state.lose_next_tx = 1  # the fault bites the first chain sent after it
            self.handed_off = False
        self.start()
        for index in (RX, TX):
            os.eventfd_write(self.kick_fd(index), 1)

    # The control queue (5.1.6.5): [class, command][data...] readable, [ack] writable. Its
    # ring is walked in C (kvmnet_vnet_ctrl_take/put), the commands decided here.
    def _control(self):
        state, head, room = self._state, ffi.new("unsigned short *"), ffi.new("unsigned int *")
        used_any = False
        while True:
            got = lib.kvmnet_vnet_ctrl_take(state, self._ctrl_buf, len(self._ctrl_buf), head,
                                            room)
            if got in (-errno.ENOENT, -errno.EFAULT):
                break
            command = bytes(ffi.buffer(self._ctrl_buf, got)) if got >= 0 else b""
            ack = CTRL_ERR  # also for a command too long for the buffer (-EMSGSIZE)
            if len(command) >= 2 and room[0]:
                ack = self._command(command[0], command[1], command[2:])
            if lib.kvmnet_vnet_ctrl_put(state, head[0], ack) < 0:
                break
            used_any = True
        if used_any:
            self.transport.interrupt(CTRL)
        self._after(CTRL, 0, state.ctrl)

    def _command(self, cls, command, data):
        f = self._state.filter
        with self.lock:
            if cls == CTRL_RX and command in (CTRL_RX_PROMISC, CTRL_RX_ALLMULTI) and data:
                setattr(f, "promisc" if command == CTRL_RX_PROMISC else "allmulti", data[0] != 0)
                return CTRL_OK
            if cls == CTRL_MAC and command == CTRL_MAC_ADDR_SET and len(data) >= 6:
                f.mac = list(data[:6])
                return CTRL_OK
            if cls == CTRL_MAC and command == CTRL_MAC_TABLE_SET:
                tables = _mac_tables(data)
                if tables is None:
                    return CTRL_ERR
                (f.n_uni, uni), (f.n_multi, multi) = [(len(t), t) for t in tables]
                for i, mac in enumerate(uni):
                    f.uni[i] = list(mac)
                for i, mac in enumerate(multi):
                    f.multi[i] = list(mac)
                return CTRL_OK
        return CTRL_ERR


def _mac_tables(data):
    """Two virtio_net_ctrl_mac tables (le32 entries, then 6-byte MACs): unicast, multicast."""
    tables, offset = [], 0
    for _ in range(2):
        if offset + 4 > len(data):
            return None
        (count,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if count > 64 or offset + 6 * count > len(data):
            return None
        tables.append([data[offset + 6 * i:offset + 6 * i + 6] for i in range(count)])
        offset += 6 * count
    return tables


class VirtioNetPci(VhostHandoff, VirtioPci):
    """virtio-net as a PCI function: modern-only (1af4:1041) or transitional (1af4:1000).

    vhost: a kvmnet.backends.vhost.frontend.VhostFrontend to hand the rings to (at DRIVER_OK when
    auto_handoff, else on handoff()); see kvmnet.devices.virtio_vhost."""

    def __init__(self, mac, backend, faults=(), transitional=False, mtu=1500, vhost=None,
                 auto_handoff=True):
        net = VirtioNet(mac, backend, faults, mtu, vhost=vhost)
        super().__init__(net, transitional=transitional)
        net.transport = self
        self.net = net
        net.set_call_fds(self.calls.fds[RX], self.calls.fds[TX])
        self._init_vhost(vhost, auto_handoff)

    @property
    def memory(self):
        return self.net.memory

    @memory.setter
    def memory(self, memory):
        self.net.memory = memory

    counters = property(lambda self: self.net.counters)
    faults = property(lambda self: self.net.faults)

    def _write_status(self, value):
        if value == 0:
            self._drop_rings()
        super()._write_status(value)

    def start(self):
        self.calls.start()
        self.net.start()

    def close(self):
        if self.handed_off:
            self._drop_rings()
        self.net.stop()
        self.release_ioeventfds()
        self.calls.close()
        self.net.close()  # the frontend is the backend's: it closes it
