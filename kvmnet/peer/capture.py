"""A pcap of everything an interface sees during a block, to attach to a failing test.

    with Capture(topology.peer_netns, topology.peer_ifname, tmp_path / "peer.pcap") as cap:
        ...                      # the test's traffic
    cap.frames, cap.dropped      # written, and lost by the kernel (socket buffer full)

A packet socket (both directions, kernel timestamps) read by a thread into a standard pcap
file (nanosecond timestamps, LINKTYPE_ETHERNET); readable by tcpdump, tshark, scapy. Capture
is evidence, not the datapath: at bulk rates it keeps the first `max_frames` and counts the
rest as dropped.
"""

import os
import select
import socket
import struct
import threading

from kvmnet.peer.bulk import BUFFER_BYTES, ETH_P_ALL

SOL_PACKET, PACKET_STATISTICS = 263, 6
SO_RCVBUFFORCE, SO_TIMESTAMPNS = 33, 35  # <asm-generic/socket.h>; Python lacks them
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
MAX_FRAMES = 100_000


def _timestamp(ancdata):
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            return struct.unpack("qq", data[:16])
    return 0, 0


class Capture:
    """Capture ifname in netns into path from __enter__ (or start()) to __exit__ (stop())."""

    def __init__(self, netns, ifname, path, snaplen=SNAPLEN, max_frames=MAX_FRAMES):
        self.netns, self.ifname, self.path = netns, ifname, os.fspath(path)
        self.snaplen, self.max_frames = snaplen, max_frames
        self.frames = 0
        self.dropped = 0
        self._sock = self._thread = None
        self._stop_r = self._stop_w = -1
        self._error = None

    def start(self):
        self._sock = self.netns.call(self._open)
        self._stop_r, self._stop_w = os.pipe()
        self._file = open(self.path, "wb")
        self._file.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, self.snaplen,
                                     LINKTYPE_ETHERNET))
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"capture:{self.ifname}")
        self._thread.start()
        return self

    def _open(self):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, BUFFER_BYTES)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind((self.ifname, ETH_P_ALL))
        except BaseException:
            sock.close()
            raise
        return sock

    def _run(self):
        try:
            while True:
                # Once full, stop reading: the kernel counts what it drops, at no cost here.
                watched = [self._stop_r] if self.frames >= self.max_frames else [self._sock,
                                                                                  self._stop_r]
                ready = select.select(watched, [], [])[0]
                if self._sock in ready:
                    self._drain()
                elif self._stop_r in ready:
                    self._drain()  # what arrived before stop() was called
                    return
        except BaseException as e:  # reported by stop()
            self._error = e

    def _drain(self):
        while True:
            try:
                frame, anc, _, _ = self._sock.recvmsg(SNAPLEN + 64, socket.CMSG_SPACE(16),
                                                      socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if self.frames >= self.max_frames:
                self.dropped += 1
                return
            sec, nsec = _timestamp(anc)
            data = frame[:self.snaplen]
            self._file.write(struct.pack("<IIII", sec, nsec, len(data), len(frame)) + data)
            self.frames += 1

    def stop(self):
        """Stop, write out and close the file; idempotent. Raises what the thread hit."""
        if self._thread is None:
            return
        os.write(self._stop_w, b"x")
        self._thread.join()
        self._thread = None
        stats = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.dropped += struct.unpack("II", stats)[1]
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self._sock.close()
        self._file.close()
        if self._error:
            raise self._error

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def read_pcap(path):
    """[(seconds, frame bytes)] of a pcap written by Capture (for tests and reports)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack_from("<I", data)
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    out, at = [], 24
    while at < len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, at)
        out.append((sec + frac * scale, data[at + 16:at + 16 + caplen]))
        at += 16 + caplen
    return out
