"""QMP, QEMU's machine protocol, over a socket: just enough to reset a guest.

QEMU gets one end of a socketpair as a QMP monitor (`arguments(fd)`: `-chardev
socket,id=qmp,fd=N -mon chardev=qmp,mode=control`), so nothing is made on the filesystem
that a killed run could leave behind. QEMU greets as it starts; the first `execute`
negotiates capabilities (qmp_capabilities), and each returns its command's "return" value,
skipping the events that come in between (a reset's RESET).
"""

import json
import socket


class QmpError(RuntimeError):
    """QEMU answered a command with an error, or its monitor went away."""


class Qmp:
    def __init__(self, sock):
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._negotiated = False

    @classmethod
    def pair(cls):
        """(Qmp, fd): the fd is QEMU's end of the socket, for it to inherit; close it once
        QEMU has it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(ours), theirs.detach()

    @staticmethod
    def arguments(fd):
        """QEMU's arguments for a QMP monitor on the inherited socket fd."""
        return ["-chardev", f"socket,id=qmp,fd={fd}", "-mon", "chardev=qmp,mode=control"]

    def execute(self, command, timeout=10, **arguments):
        """Run command (with arguments); its return value. QmpError if QEMU refused it or
        went away, TimeoutError after timeout seconds without an answer."""
        self._sock.settimeout(timeout)
        if not self._negotiated:
            self._negotiated = True
            greeting = self._message()
            if "QMP" not in greeting:
                raise QmpError(f"QEMU's monitor did not greet: {greeting}")
            self.execute("qmp_capabilities", timeout)
        request = {"execute": command} | ({"arguments": arguments} if arguments else {})
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as e:
            raise QmpError(f"QEMU's monitor went away: {e}") from None
        while True:
            message = self._message()
            if "return" in message:
                return message["return"]
            if "error" in message:
                error = message["error"]
                raise QmpError(f"QEMU refused {command}: {error.get('class')}: "
                               f"{error.get('desc')}")
            # an event ({"event": ...}): not the answer

    def _message(self):
        try:
            line = self._reader.readline()
        except socket.timeout:
            raise TimeoutError("QEMU's monitor did not answer in time") from None
        except OSError as e:
            raise QmpError(f"QEMU's monitor went away: {e}") from None
        if not line:
            raise QmpError("QEMU's monitor went away (QEMU exited?)")
        return json.loads(line)

    def close(self):
        self._reader.close()
        self._sock.close()
