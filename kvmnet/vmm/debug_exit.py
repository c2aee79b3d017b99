"""The debug-exit port: the guest writes its exit status there and the machine stops.

QEMU's isa-debug-exit at 0xf4 turns a write of v into process status (v << 1) | 1; here the
value itself is the status, which is what a test wants to compare.
"""

PORT = 0xF4


class DebugExit:
    def __init__(self, on_exit):
        self._on_exit = on_exit

    def read(self, offset, size):
        return b"\0" * size

    def write(self, offset, data):
        self._on_exit(int.from_bytes(data, "little"))
