"""A newc ("new ASCII") cpio archive: the format the kernel unpacks as an initramfs.

Only what an initramfs needs: directories, regular files and symlinks, owned by root, with
the mode given. Written in Python so that building the lab needs no cpio binary.
"""

import os
from pathlib import Path

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"
S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000


class Cpio:
    """Entries added in order (a directory before what it holds), then `write(path)`."""

    def __init__(self):
        self._entries = []  # (name, mode, data)
        self._dirs = set()

    def directory(self, name, mode=0o755):
        name = name.strip("/")
        if name and name not in self._dirs:
            parent = os.path.dirname(name)
            if parent:
                self.directory(parent)
            self._dirs.add(name)
            self._entries.append((name, S_IFDIR | mode, b""))

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        self.directory(os.path.dirname(name))
        self._entries.append((name, S_IFREG | mode, bytes(data)))

    def copy(self, name, source, mode=None):
        source = Path(source)
        self.file(name, source.read_bytes(), mode if mode is not None else source.stat().st_mode & 0o7777)

    def symlink(self, name, target):
        name = name.strip("/")
        self.directory(os.path.dirname(name))
        self._entries.append((name, S_IFLNK | 0o777, target.encode()))

    def write(self, path):
        with open(path, "wb") as out:
            for ino, (name, mode, data) in enumerate(self._entries, start=1):
                out.write(_entry(ino, name, mode, data))
            out.write(_entry(0, _TRAILER, 0, b""))
            out.write(b"\0" * (-out.tell() % 512))


def _entry(ino, name, mode, data):
    raw = name.encode() + b"\0"
    nlink = 2 if mode & S_IFMT == S_IFDIR else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(raw), 0)
    header = _MAGIC + b"".join(b"%08X" % f for f in fields)
    return header + raw + _pad(len(header) + len(raw)) + data + _pad(len(data))


def _pad(n):
    return b"\0" * (-n % 4)
