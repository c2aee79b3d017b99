"""Bulk streams of test frames, sent and verified in C (native/peer.c), never per frame here.

The functions take any fd that carries one frame per read/write: a packet socket from
`open_socket` (the peer's interface, opened inside its namespace) or a tap queue (with
`hdr_len` = its vnet header size). `Peer` is the usual face: the peer end of a topology.

Streams are kvmnet/testframe.py's: frames (dst, src, seq, seed, size); a receiver acks
every N frames from dst back to src, and a windowed sender keeps at most `window` frames
beyond the last ack.
"""

import errno
import os
import threading
from dataclasses import dataclass

from kvmnet import testframe
from kvmnet.syscall import check, ffi, lib

ETH_P_ALL = lib.ETH_P_ALL  # every protocol: what a peer socket takes

# Socket buffers big enough that the peer is never where frames are dropped.
BUFFER_BYTES = 64 << 20
TIMEOUT = 2.0


@dataclass(frozen=True)
class SendResult:
    sent: int
    acked: int            # frames the receiver had, by its last ack (window only)
    acked_bad: int        # of which failed verification, by the same ack
    max_outstanding: int  # most frames ever beyond the acked count (window only)
    full_waits: int       # times the sender stopped for a full window
    seconds: float        # first frame to last
    acked_seconds: float  # first frame to the ack of the whole stream (await_last; else 0)

    @property
    def frames_per_s(self):
        return self.sent / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class ReceiveResult:
    count: int
    got: int        # distinct seqs that arrived intact
    bad: int        # frames of the stream that failed verification
    lost: int       # seqs that never arrived
    dup: int
    reordered: int
    other: int      # frames not of the stream
    acks_sent: int
    timed_out: bool
    stopped: bool   # cancelled (Receiving.cancel) before the stream was whole
    bad_frames: tuple  # the first few bad frames, as sentences
    bytes: int
    seconds: float  # first frame of the stream to last

    @property
    def ok(self):
        """Every frame arrived once, intact, in order."""
        return (self.got == self.count and not self.bad and not self.dup
                and not self.reordered)

    @property
    def frames_per_s(self):
        return (self.got + self.bad) / self.seconds if self.seconds else 0.0

    def summary(self):
        text = (f"{self.got} of {self.count} frames intact: {self.lost} lost, {self.bad} bad, "
                f"{self.dup} duplicated, {self.reordered} reordered, {self.other} other frames")
        if self.timed_out:
            text += "; gave up waiting"
        if self.stopped:
            text += "; cancelled"
        if self.bad_frames:
            text += "; first bad: " + "; ".join(self.bad_frames)
        return text


class AckTimeout(TimeoutError):
    """A windowed sender waited too long for an ack; `.result` says how far it got."""

    def __init__(self, result, timeout):
        super().__init__(f"peer send: no acknowledgement for {timeout} s after {result.sent} "
                         f"frames sent, {result.acked} acknowledged")
        self.result = result


def open_socket(netns, ifname, protocol=ETH_P_ALL, buffer_bytes=BUFFER_BYTES,
                ignore_outgoing=True):
    """A packet socket on ifname inside netns; returns the fd (the caller closes it)."""
    ret = netns.call(lib.kvmnet_peer_socket, ifname.encode(), protocol, buffer_bytes,
                     int(ignore_outgoing))
    return check(ret, f"packet socket on {ifname} in {netns.name}")


def _stream(dst, src, seed, first_seq, count, size=0, window=0, ack_every=0, hdr_len=0,
            timeout=TIMEOUT, await_last=False):
    s = ffi.new("struct kvmnet_stream *")
    s.dst = list(testframe.mac_bytes(dst))
    s.src = list(testframe.mac_bytes(src))
    s.seed, s.first_seq, s.count, s.size = seed, first_seq, count, size
    s.window, s.ack_every, s.hdr_len = window, ack_every, hdr_len
    s.await_last = await_last
    s.timeout_ms = -1 if timeout is None else int(timeout * 1000)
    return s


def send(fd, dst, src, seed, count, size, first_seq=0, window=0, timeout=TIMEOUT, hdr_len=0,
         await_last=False):
    """Send `count` frames of `size` bytes; window 0 sends without flow control.

    Raises AckTimeout if a windowed sender hears no ack for `timeout` seconds. await_last
    (with a window): wait up to `timeout` for the ack of the whole stream, which times the
    stream to its arrival (acked_seconds), not to its last write.
    """
    s = _stream(dst, src, seed, first_seq, count, size, window=window, hdr_len=hdr_len,
                timeout=timeout, await_last=await_last)
    r = ffi.new("struct kvmnet_send_result *")
    ret = lib.kvmnet_peer_send(fd, s, r)
    result = SendResult(r.sent, r.acked, r.acked_bad, r.max_outstanding, r.full_waits,
                        r.ns / 1e9, r.acked_ns / 1e9)
    if ret == -errno.ETIMEDOUT:
        raise AckTimeout(result, timeout)
    check(ret, f"peer send (seed {seed:#x}, {count} x {size} B)")
    return result


def receive(fd, seed, count, first_seq=0, timeout=TIMEOUT, ack_every=0, dst=b"\0" * 6,
            src=b"\0" * 6, hdr_len=0, stop_fd=-1, expect_dst=None):
    """Receive the stream until every seq arrived, none came for `timeout` seconds, or
    stop_fd became readable.

    dst, src: the frames' addresses, needed for acks (sent from dst to src). With
    expect_dst, a frame not sent from src to expect_dst is bad (its MAC named).
    """
    s = _stream(dst, src, seed, first_seq, count, ack_every=ack_every, hdr_len=hdr_len,
                timeout=timeout)
    if expect_dst is not None:
        s.check_addresses = 1
        s.expect_dst = list(testframe.mac_bytes(expect_dst))
    seen = ffi.new("uint8_t[]", (count + 7) // 8 or 1)
    r = ffi.new("struct kvmnet_recv_result *")
    check(lib.kvmnet_peer_receive(fd, stop_fd, s, seen, r), f"peer receive (seed {seed:#x})")
    bad = tuple(_sample_sentence(r, i, s, first_seq, count) for i in range(r.n_samples))
    bad += tuple(f"seq {r.dup_seq[i]} arrived twice"
                 for i in range(min(r.dup, lib.KVMNET_PEER_BAD_SAMPLES)))
    bad += tuple(f"seq {r.late_seq[i]} arrived after seq {r.late_after[i]}"
                 for i in range(min(r.reordered, lib.KVMNET_PEER_BAD_SAMPLES)))
    return ReceiveResult(count, r.got, r.bad, r.lost, r.dup, r.reordered, r.other,
                         r.acks_sent, bool(r.timed_out), bool(r.stopped), bad, r.bytes,
                         r.ns / 1e9)


def _mac(raw):
    return ":".join(f"{b:02x}" for b in bytes(raw))


def _sample_sentence(r, i, stream, first_seq, count):
    """A bad frame the receiver kept (sample i of r), as a sentence."""
    seq, reason, detail, got = (r.sample_seq[i], r.sample_reason[i], r.sample_detail[i],
                                r.sample_len[i])
    if reason == lib.KVMNET_TF_SHORT:
        return f"seq {seq} truncated: {got} bytes arrived, fewer than its length field says"
    if reason == lib.KVMNET_TF_TRAILING:
        return f"seq {seq}: {detail} bytes past its end that are not padding ({got} arrived)"
    if reason == lib.KVMNET_TF_PAYLOAD:
        return (f"seq {seq} corrupted: byte {detail} (of {got}) is {r.sample_got[i]:02x}, "
                f"expected {r.sample_want[i]:02x}")
    if reason == lib.KVMNET_TF_ADDRESS:
        which, want = (("destination", stream.expect_dst) if detail == 0
                       else ("source", stream.src))
        return (f"seq {seq}: {which} MAC {_mac(r.sample_mac[i])}, expected "
                f"{_mac(want)}")
    return f"seq {seq}: outside the stream's seqs {first_seq}..{first_seq + count - 1}"


def check_frame(frame, seed=None):
    """testframe.check done by the C checker: the same sentence, or None (for tests)."""
    seq, detail = ffi.new("uint32_t *"), ffi.new("uint32_t *")
    verdict = lib.kvmnet_testframe_check(frame, len(frame), seed or 0, seed is not None,
                                         seq, detail)
    seq, detail = seq[0], detail[0]
    if verdict == lib.KVMNET_TF_NOT_TEST:
        return "not a kvmnet test frame"
    if verdict == lib.KVMNET_TF_SEED:
        return f"seed {detail:#x}, expected {seed:#x}"
    if verdict == lib.KVMNET_TF_SHORT:
        return f"seq {seq}: {detail} bytes, the header says {testframe.parse(frame)[2]}"
    if verdict == lib.KVMNET_TF_TRAILING:
        return f"seq {seq}: {detail} bytes past the end that are not padding"
    if verdict == lib.KVMNET_TF_PAYLOAD:
        return f"seq {seq}: payload differs at byte {detail}"
    return None


def build_frame(dst, src, seq, seed, length):
    """testframe.build done by the C builder (for tests)."""
    buf = ffi.new("uint8_t[]", length)
    n = check(lib.kvmnet_testframe_build(buf, length, testframe.mac_bytes(dst),
                                         testframe.mac_bytes(src), seq, seed, length),
              f"testframe build ({length} B)")
    return bytes(ffi.buffer(buf, n))


class HeldSocket:
    """A packet socket (fd) a `with` block owns: closed when the block ends, or by close()."""

    def __init__(self, fd: int):
        self.fd = fd

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Receiving:
    """A receive running on its own thread, on a socket opened before it started (so no
    frame sent after start_receive returned is missed). wait() gives the ReceiveResult;
    cancel() (or leaving a `with` block without wait()) ends it early."""

    def __init__(self, fd, kwargs):
        self._fd = fd
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._outcome = {}
        self._thread = threading.Thread(target=self._run, args=(kwargs,), daemon=True,
                                        name="peer-receive")
        self._thread.start()

    def _run(self, kwargs):
        try:
            self._outcome["value"] = receive(self._fd, stop_fd=self._stop_r, **kwargs)
        except BaseException as e:  # handed to wait()
            self._outcome["error"] = e

    def wait(self, timeout=None):
        """The ReceiveResult, once the stream is whole or timed out (or TimeoutError if
        still running after `timeout` s)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"peer receive still running after {timeout} s")
        self._close()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]

    def cancel(self):
        """End the receive now; wait() then gives what arrived so far (result.stopped)."""
        if self._stop_w >= 0:
            os.write(self._stop_w, b"x")
        return self.wait()

    def _close(self):
        for name in ("_fd", "_stop_r", "_stop_w"):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._fd >= 0:
            try:
                self.cancel()
            except Exception:
                if exc[0] is None:
                    raise


class Peer:
    """The network end of a topology: bulk streams on `ifname` (address `mac`) in netns.

    Each call opens its own packet socket, so a send and a receive can run side by side.
    """

    def __init__(self, netns, ifname, mac, buffer_bytes=BUFFER_BYTES):
        self.netns = netns
        self.ifname = ifname
        self.mac = mac
        self.buffer_bytes = buffer_bytes

    @classmethod
    def on(cls, topology):
        """The peer of a topology (anything with peer_netns, peer_ifname and peer_mac)."""
        return cls(topology.peer_netns, topology.peer_ifname, topology.peer_mac)

    def socket(self, protocol=ETH_P_ALL):
        """A packet socket on the peer's interface (protocol 0: send only)."""
        return open_socket(self.netns, self.ifname, protocol, self.buffer_bytes)

    def send(self, dst, seed, count, size, first_seq=0, window=0, timeout=TIMEOUT,
             await_last=False):
        """Send a stream from this peer to dst; see bulk.send."""
        fd = self.socket(ETH_P_ALL if window else 0)  # only a windowed sender reads (acks)
        try:
            return send(fd, dst, self.mac, seed, count, size, first_seq, window, timeout,
                        await_last=await_last)
        finally:
            os.close(fd)

    def start_receive(self, seed, count, src=b"\0" * 6, first_seq=0, timeout=TIMEOUT,
                      ack_every=0, expect_dst=None):
        """Start receiving a stream sent to this peer from src; returns a Receiving. With
        expect_dst (this peer's MAC, or the group or broadcast the stream goes to), a frame
        of another source or destination is bad."""
        fd = self.socket()
        kwargs = dict(seed=seed, count=count, first_seq=first_seq, timeout=timeout,
                      ack_every=ack_every, dst=self.mac, src=src, expect_dst=expect_dst)
        try:
            return Receiving(fd, kwargs)
        except BaseException:
            os.close(fd)
            raise

    def receive(self, seed, count, src=b"\0" * 6, first_seq=0, timeout=TIMEOUT, ack_every=0):
        return self.start_receive(seed, count, src, first_seq, timeout, ack_every).wait()

    def __repr__(self):
        return f"Peer({self.ifname} {self.mac} in {self.netns.name})"


__all__ = ["AckTimeout", "HeldSocket", "Peer", "ReceiveResult", "Receiving", "SendResult",
           "build_frame", "check_frame", "open_socket", "receive", "send"]
