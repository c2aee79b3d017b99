"""The peer as an IPv4 host, for checks that go through a guest's own IP stack.

Topologies keep the peer's kernel quiet (no address: no ARP, no ICMP). A PeerHost gives its
interface one link-local address for the length of a check, so that the peer's kernel is
the guest's TCP and UDP partner, and records every frame the interface sees, both ways:

    with PeerHost(peer, "169.254.78.1") as host:
        sink = host.tcp_sink(port)        # accepts one connection, reads it to the end
        ...the guest sends...
        sink.result(timeout)              # the bytes the peer's kernel took
        host.frames()                     # what crossed the wire, in order

Addresses must be link-local (169.254.0.0/16); the address goes when the block ends.
"""

import select
import socket
import threading

from kvmnet.peer.bulk import ETH_P_ALL
from kvmnet.peer.probes import link_local

PREFIX = 16
CAPTURE_BUFFER = 16 << 20  # a 1 MiB TCP send is ~750 frames, plus the peer's ACKs
SO_RCVBUFFORCE = 33


class TcpSink:
    """One connection accepted on a listening socket and read until the guest closes its
    side; the peer then closes its own, which the guest's tcpsend waits for."""

    def __init__(self, listener: socket.socket):
        self._listener = listener
        self._got = bytearray()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name="peer-tcp-sink", daemon=True)
        self._thread.start()

    def _serve(self):
        try:
            conn, _ = self._listener.accept()
            with conn:
                conn.settimeout(self._listener.gettimeout())
                while chunk := conn.recv(1 << 16):
                    self._got += chunk
        except OSError as e:
            self._error = e
        finally:
            self._listener.close()

    def result(self, timeout: float) -> bytes:
        """What the peer read from the connection (all of it once the guest closed)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._listener.close()
            raise TimeoutError(f"the peer's TCP sink still open after {timeout} s, "
                               f"{len(self._got)} bytes read")
        if self._error is not None and not self._got:
            raise self._error
        return bytes(self._got)


class PeerHost:
    """The peer's interface with IPv4 address ip/16 and a capture of all it sees."""

    def __init__(self, peer, ip: str, timeout: float = 60.0):
        self.peer, self.ip, self.timeout = peer, link_local(ip), timeout
        self._capture = None
        self._sockets = []

    def __enter__(self):
        try:
            self._capture = self.peer.netns.call(self._open_capture)
            with self.peer.netns.ipr() as ipr:
                index = ipr.link_lookup(ifname=self.peer.ifname)[0]
                ipr.addr("add", index=index, address=self.ip, prefixlen=PREFIX)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for sock in self._sockets:
            sock.close()
        if self._capture is not None:
            self._capture.close()
        if self.peer.netns.exists():
            with self.peer.netns.ipr() as ipr:
                index = ipr.link_lookup(ifname=self.peer.ifname)
                if index and ipr.get_addr(index=index[0], address=self.ip):
                    ipr.addr("del", index=index[0], address=self.ip, prefixlen=PREFIX)

    def _open_capture(self):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_BUFFER)
            sock.bind((self.peer.ifname, ETH_P_ALL))
        except BaseException:
            sock.close()
            raise
        return sock

    def _socket(self, kind, port):
        def make():
            sock = socket.socket(socket.AF_INET, kind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.ip, port))
            return sock
        sock = self.peer.netns.call(make)
        sock.settimeout(self.timeout)
        return sock

    def tcp_sink(self, port: int) -> TcpSink:
        """Listen on port; the sink reads the first connection to its end."""
        listener = self._socket(socket.SOCK_STREAM, port)
        listener.listen(1)
        return TcpSink(listener)

    def udp_sink(self, port: int) -> socket.socket:
        """A socket bound to port (the peer's kernel then answers nothing with ICMP); what
        it received tells which datagrams that kernel found intact."""
        sock = self._socket(socket.SOCK_DGRAM, port)
        sock.setblocking(False)  # read by datagrams()
        self._sockets.append(sock)
        return sock

    def send_frame(self, frame: bytes) -> None:
        """Send one Ethernet frame as it is, bypassing the peer's IP stack."""
        self._capture.send(frame)

    def frames(self) -> list:
        """Every frame the interface saw since the block began (or since the last call),
        both directions, in order."""
        got = []
        while select.select([self._capture], [], [], 0)[0]:
            got.append(self._capture.recv(1 << 17))
        return got


def datagrams(sock: socket.socket) -> list:
    """The datagrams waiting on sock (non-blocking, as udp_sink's are). A datagram whose
    checksum is bad makes a socket readable and is dropped only when read: a blocking
    read would then wait."""
    got = []
    while True:
        try:
            got.append(sock.recv(1 << 16))
        except BlockingIOError:
            return got


__all__ = ["PeerHost", "TcpSink", "datagrams"]
