"""A receiver's acknowledgements (kvmnet.testframe), heard at the peer while two guests
stream to each other: what lets the harness keep the sending guest within the receiving
guest's window, as the peer's own windowed sender does (kvmnet.peer.bulk.send)."""

import os
import select
import time

from kvmnet import testframe
from kvmnet.peer import bulk


class AcksStopped(TimeoutError):
    """No acknowledgement came that reached the count waited for."""


class HeardAcks(bulk.HeldSocket):
    """The acknowledgements `src` sends to the peer, counted as they come (a context
    manager: the socket is open from construction to exit, so none is missed)."""

    def __init__(self, peer: bulk.Peer, src: str):
        self.src = testframe.mac_bytes(src)
        self.received = 0  # frames the receiver had, by its latest acknowledgement
        super().__init__(peer.socket(testframe.ACK_ETHERTYPE))

    def wait_for(self, frames: int, timeout: float) -> int:
        """The receiver's count once it has acknowledged at least `frames`; AcksStopped
        if no acknowledgement that gets there comes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.received < frames:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AcksStopped(f"acknowledged {self.received} of the {frames} frames "
                                   f"needed, then nothing for {timeout} s")
            frame = os.read(self.fd, 2048)
            ack = testframe.parse_ack(frame) if frame[6:12] == self.src else None
            if ack is not None:
                self.received = max(self.received, ack[0])
        return self.received
