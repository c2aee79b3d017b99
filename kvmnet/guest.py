"""The control channel to the suite's guest image, over its COM1 (guestimg/PROTOCOL.md).

Every line carries a CRC-32, so a lost or garbled byte shows as a ProtocolError rather
than as a wrong answer. One command at a time: `command` sends a line and collects its
DATA lines until the final OK or ERR. A command that runs while the host does something
else (the guest receiving what a peer sends) is started with `begin` and finished with
`Pending.result`; `Pending.interrupt` ends one that waits for frames early.
"""

import itertools
import queue
import zlib
from dataclasses import dataclass


class ProtocolError(RuntimeError):
    """The guest sent something the protocol does not allow (bad CRC, wrong seq, ...)."""


class GuestError(RuntimeError):
    """The guest answered ERR, or reported a FAULT."""


class KernelOwned(GuestError):
    """The guest answered `ERR kernel`: what the command touches belongs to the guest's
    kernel (kvmnet-agent under Linux: PCI configuration, interrupts, virtqueues, the CPU),
    so it cannot be done there at all; `command` is the command's name."""

    def __init__(self, message, command):
        super().__init__(message)
        self.command = command


class GuestGone(RuntimeError):
    """The guest stopped (or never started) while the host waited for a line."""


@dataclass(frozen=True)
class Reply:
    words: list       # the OK line's words after OK
    data: list        # each DATA line's words after DATA

    @property
    def text(self):
        return " ".join(self.words)

    @property
    def fields(self):
        """The OK line's key=value words as a dict, numbers as ints."""
        pairs = (word.split("=", 1) for word in self.words if "=" in word)
        return {key: int(value) if value.isdigit() else value for key, value in pairs}


def frame(body):
    """A protocol line for body (str): body*crc\\n."""
    return f"{body}*{zlib.crc32(body.encode()):08x}\n".encode()


def parse_line(line):
    """(seq, word, args) of a guest protocol line, or None for console text."""
    if not line.startswith("!"):
        return None
    body, star, crc = line[1:].rpartition("*")
    if not star or len(crc) != 8 or f"{zlib.crc32(body.encode()):08x}" != crc:
        raise ProtocolError(f"corrupted line from the guest: {line!r}")
    seq, word, *args = body.split(" ")
    return int(seq), word, args


class GuestChannel:
    """Talks to the guest through `send(bytes)`; incoming bytes arrive through `receive`."""

    def __init__(self, send):
        self._send = send
        self._partial = bytearray()
        self._lines = queue.Queue()
        self._seq = itertools.count(1)

    def receive(self, data):
        """Feed bytes the guest sent (any thread)."""
        self._partial += data
        while b"\n" in self._partial:
            line, _, rest = self._partial.partition(b"\n")
            self._partial = bytearray(rest)
            self._lines.put(line.decode("ascii", "replace"))

    def end(self, reason):
        """The guest is gone: a reader waiting for a line gets GuestGone(reason)."""
        self._lines.put(GuestGone(reason))

    def _next(self, timeout):
        """The next protocol line as (seq, word, args), skipping console text."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no line from the guest in {timeout} s") from None
            if isinstance(line, GuestGone):
                self._lines.put(line)  # and to every later reader
                raise line
            parsed = parse_line(line)
            if parsed is None:
                continue
            if parsed[1] == "FAULT":
                raise GuestError("guest CPU exception: " + " ".join(parsed[2]))
            return parsed

    def wait_hello(self, timeout):
        """The version the guest announces at boot (its HELLO line)."""
        seq, word, args = self._next(timeout)
        if (seq, word) != (0, "HELLO") or len(args) < 2 or args[0] != "kvmnet-guest":
            raise ProtocolError(f"expected HELLO from kvmnet-guest, got {word} {args}")
        return dict(a.split("=", 1) for a in args[2:] if "=" in a) | {"version": args[1]}

    def command(self, text, timeout=10):
        """Send a command; return its Reply, or raise GuestError on ERR."""
        return self.begin(text).result(timeout)

    def begin(self, text):
        """Send a command and return at once; its reply is Pending.result()."""
        seq = next(self._seq)
        self._send(frame(f"{seq} {text}"))
        return Pending(self, seq, text)

    def _reply(self, seq, text, timeout):
        data = []
        while True:
            got_seq, word, args = self._next(timeout)
            if got_seq == 0 and word == "ERR":
                raise ProtocolError(f"the guest could not read {text!r}: {' '.join(args)}")
            if 0 < got_seq < seq:
                continue  # a late reply to a command given up on
            if got_seq != seq:
                raise ProtocolError(f"reply to seq {got_seq} while waiting for {seq} ({text!r})")
            if word == "DATA":
                data.append(args)
            elif word == "OK":
                return Reply(args, data)
            elif word == "ERR":
                raise _error(text, args)
            else:
                raise ProtocolError(f"unexpected {word} in the reply to {text!r}")


@dataclass
class Pending:
    """A command sent whose reply has not been read yet."""

    channel: GuestChannel
    seq: int
    text: str

    def interrupt(self):
        """End a command that waits for frames (recv, bounce, serve, irq) now: the guest
        takes any byte from the host as the signal."""
        self.channel._send(b"\n")

    def result(self, timeout=10):
        return self.channel._reply(self.seq, self.text, timeout)

    def data(self, timeout=10):
        """The next DATA line of this command's reply (its words), for commands that say
        something before they finish (irq says "armed")."""
        while True:
            seq, word, args = self.channel._next(timeout)
            if 0 < seq < self.seq:
                continue  # a late reply to a command given up on
            if (seq, word) == (self.seq, "DATA"):
                return args
            if (seq, word) == (self.seq, "ERR"):
                raise _error(self.text, args)
            raise ProtocolError(f"expected DATA for {self.text!r}, got {seq} {word} {args}")


def _error(text, args):
    message = f"{text!r}: {' '.join(args)}"
    if args == ["kernel"]:
        return KernelOwned(message, text.split()[0])
    return GuestError(message)
