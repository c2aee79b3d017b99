"""vhost-user (QEMU docs/interop/vhost-user.rst): the frontend's side of the Unix socket.

Every message is a header (u32 request, u32 flags, u32 size) and a payload; fds travel as
SCM_RIGHTS ancillary data: the memory regions' memfds with SET_MEM_TABLE, an eventfd with
SET_VRING_KICK/CALL. Flags carry the version (1), REPLY on the backend's answers and
NEED_REPLY, which asks for an ack (u64 0 on success) once REPLY_ACK is negotiated; this
client asks for one on every request that has no reply of its own, so each returns only
once the backend has acted on it, and a refusal names its request.

The client negotiates VHOST_USER_F_PROTOCOL_FEATURES when offered (rings then start
disabled and SET_VRING_ENABLE turns them on and off) and, of the protocol features,
REPLY_ACK only. A backend that closes the socket raises BackendGone; one that does not
answer within `timeout` seconds raises VhostError, so nothing waits forever.
"""

import array
import socket
import struct

from kvmnet.backends.vhost.frontend import BackendGone, VhostError

# Requests (front-end message types), numbered as the spec numbers them.
VHOST_USER_GET_FEATURES = 1
VHOST_USER_SET_FEATURES = 2
VHOST_USER_SET_OWNER = 3
VHOST_USER_SET_MEM_TABLE = 5
VHOST_USER_SET_VRING_NUM = 8
VHOST_USER_SET_VRING_ADDR = 9
VHOST_USER_SET_VRING_BASE = 10
VHOST_USER_GET_VRING_BASE = 11
VHOST_USER_SET_VRING_KICK = 12
VHOST_USER_SET_VRING_CALL = 13
VHOST_USER_GET_PROTOCOL_FEATURES = 15
VHOST_USER_SET_PROTOCOL_FEATURES = 16
VHOST_USER_SET_VRING_ENABLE = 18
REQUEST_NAMES = {v: k.removeprefix("VHOST_USER_") for k, v in globals().items()
                 if k.startswith("VHOST_USER_") and isinstance(v, int)}

VHOST_USER_VERSION = 0x1
VHOST_USER_FLAG_REPLY = 1 << 2
VHOST_USER_FLAG_NEED_REPLY = 1 << 3
VHOST_USER_F_PROTOCOL_FEATURES = 30
VHOST_USER_PROTOCOL_F_REPLY_ACK = 3
VHOST_USER_VRING_NOFD_MASK = 1 << 8
VHOST_MEMORY_BASELINE_NREGIONS = 8

HEADER = struct.Struct("<III")
U64 = struct.Struct("<Q")
VRING_STATE = struct.Struct("<II")
VRING_ADDR = struct.Struct("<IIQQQQ")  # index, flags, desc, used, avail, log
MEMORY = struct.Struct("<II")          # nregions, padding; then the regions
MEMORY_REGION = struct.Struct("<QQQQ")  # guest_phys_addr, memory_size, userspace_addr, mmap_offset


class VhostUserClient:
    """A connected vhost-user frontend; the backend listens on socket_path."""

    def __init__(self, socket_path, timeout=5.0):
        self.name = f"vhost-user {socket_path}"
        self.path = str(socket_path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.protocol_features = 0
        self.sent = []  # request names in order, for tests and evidence
        try:
            self.sock.connect(self.path)
        except OSError as e:
            self.sock.close()
            raise VhostError(f"{self.name}: cannot connect: {e.strerror}") from None
        self._features = None

    # The protocol.
    def _send(self, request, payload=b"", fds=(), flags=0):
        header = HEADER.pack(request, VHOST_USER_VERSION | flags, len(payload))
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        self.sent.append(REQUEST_NAMES.get(request, str(request)))
        try:
            self.sock.sendmsg([header + payload], ancillary)
        except (BrokenPipeError, ConnectionResetError):
            raise BackendGone(f"{self.name}: the backend closed the connection") from None

    def _recv_exact(self, size):
        data = bytearray()
        while len(data) < size:
            try:
                chunk = self.sock.recv(size - len(data))
            except TimeoutError:
                raise VhostError(f"{self.name}: no reply") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise BackendGone(f"{self.name}: the backend closed the connection")
            data += chunk
        return bytes(data)

    def _reply(self, request):
        kind, flags, size = HEADER.unpack(self._recv_exact(HEADER.size))
        payload = self._recv_exact(size)
        if kind != request or not flags & VHOST_USER_FLAG_REPLY:
            raise VhostError(f"{self.name}: asked {REQUEST_NAMES.get(request)}, got reply "
                             f"{kind} with flags {flags:#x}")
        return payload

    def _request(self, request, payload=b"", fds=()):
        """A request with no reply of its own: acked when REPLY_ACK was negotiated."""
        ack = bool(self.protocol_features >> VHOST_USER_PROTOCOL_F_REPLY_ACK & 1)
        self._send(request, payload, fds, VHOST_USER_FLAG_NEED_REPLY if ack else 0)
        if ack:
            (status,) = U64.unpack(self._reply(request)[:8])
            if status:
                raise VhostError(f"{self.name}: {REQUEST_NAMES[request]} refused "
                                 f"(status {status})")

    def _get_u64(self, request):
        self._send(request)
        return U64.unpack(self._reply(request)[:8])[0]

    # The transport interface (kvmnet.backends.vhost.frontend).
    def set_owner(self):
        self._request(VHOST_USER_SET_OWNER)

    def get_features(self):
        """GET_FEATURES; negotiates the protocol features (REPLY_ACK) when offered. The
        transport bit VHOST_USER_F_PROTOCOL_FEATURES is not a device feature and is not
        in what this returns."""
        if self._features is None:
            features = self._get_u64(VHOST_USER_GET_FEATURES)
            if features >> VHOST_USER_F_PROTOCOL_FEATURES & 1:
                offered = self._get_u64(VHOST_USER_GET_PROTOCOL_FEATURES)
                wanted = offered & (1 << VHOST_USER_PROTOCOL_F_REPLY_ACK)
                self._send(VHOST_USER_SET_PROTOCOL_FEATURES, U64.pack(wanted))
                self.protocol_features = wanted
            self._features = features
        return self._features & ~(1 << VHOST_USER_F_PROTOCOL_FEATURES)

    @property
    def uses_protocol_features(self):
        return bool(self._features and self._features >> VHOST_USER_F_PROTOCOL_FEATURES & 1)

    def set_features(self, features):
        if self.uses_protocol_features:
            features |= 1 << VHOST_USER_F_PROTOCOL_FEATURES
        self._request(VHOST_USER_SET_FEATURES, U64.pack(features))

    def set_mem_table(self, regions):
        """regions: [(guest_phys_addr, size, userspace_addr, fd, fd_offset)]."""
        if not 0 < len(regions) <= VHOST_MEMORY_BASELINE_NREGIONS:
            raise ValueError(f"{len(regions)} memory regions: vhost-user takes 1..8")
        payload = MEMORY.pack(len(regions), 0) + b"".join(
            MEMORY_REGION.pack(gpa, size, uaddr, offset) for gpa, size, uaddr, _, offset in regions)
        self._request(VHOST_USER_SET_MEM_TABLE, payload, [r[3] for r in regions])

    def set_vring_num(self, index, num):
        self._request(VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(index, num))

    def set_vring_base(self, index, base):
        self._request(VHOST_USER_SET_VRING_BASE, VRING_STATE.pack(index, base))

    def set_vring_addr(self, index, desc, used, avail, log=0):
        self._request(VHOST_USER_SET_VRING_ADDR, VRING_ADDR.pack(index, 0, desc, used, avail, log))

    def _vring_fd(self, request, index, fd):
        if fd is None or fd < 0:
            self._request(request, U64.pack(index | VHOST_USER_VRING_NOFD_MASK))
        else:
            self._request(request, U64.pack(index), [fd])

    def set_vring_kick(self, index, fd):
        self._vring_fd(VHOST_USER_SET_VRING_KICK, index, fd)

    def set_vring_call(self, index, fd):
        self._vring_fd(VHOST_USER_SET_VRING_CALL, index, fd)

    def set_vring_enable(self, index, enable):
        """Only with protocol features: without them a ring runs once it has its kick fd."""
        if self.uses_protocol_features:
            self._request(VHOST_USER_SET_VRING_ENABLE, VRING_STATE.pack(index, int(enable)))

    def get_vring_base(self, index):
        """Stops the ring; the index of the next available entry the backend would take."""
        self._send(VHOST_USER_GET_VRING_BASE, VRING_STATE.pack(index, 0))
        got_index, base = VRING_STATE.unpack(self._reply(VHOST_USER_GET_VRING_BASE)[:8])
        return base

    def net_set_backend(self, index, fd):
        """vhost-user backends own their network side: nothing to send."""

    def death_fd(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()
