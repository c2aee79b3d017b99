"""A second host on this machine, reached over SSH: Debian's sshd inside a network namespace
this process made, and an SSH client that runs inside another, the two joined by a veth.

    server namespace  kvmnet-fleet-<pid>-<n>   sshd on ADDRESS:22, as root, one key
    client namespace  kvmnet-fleet-<pid>-<n>   CLIENT_ADDRESS; `ssh` here is entered with
                                               nsenter --net (the wrapper `ssh_executable`)

Addresses are link-local (169.254.0.0/16) and exist only inside those two namespaces; the
root namespace is not touched. Both namespaces carry this process's pid, as the suite's own
do (kvmnet.host.netns), so a later run's sweep removes them if this process is killed, and
never while it lives. sshd is started with nsenter --net only, not `ip netns exec`: it and
the sessions it starts keep this machine's mount namespace, /sys included, as a real host's
suite would. sshd dies with this process (kvmnet.process.start); `close()` stops it and
removes the namespaces and what was written for it.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from kvmnet import process
from kvmnet.host.netns import Netns

SSHD = "/usr/sbin/sshd"
ADDRESS, CLIENT_ADDRESS, PREFIX = "169.254.77.2", "169.254.77.1", 24
PRIVSEP_DIR = Path("/run/sshd")  # sshd's privilege separation chroot: compiled in
_SERVER_LINK, _CLIENT_LINK = "fleet-s", "fleet-c"


class SshHost:
    """An sshd in a namespace of its own, and how to reach it from another (see the module)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.server = self.client = self.sshd = None
        self._made_privsep = False
        self.key = self.directory / "id_ed25519"
        self.ssh_executable = self.directory / "ssh-in-client-ns"
        self.log = self.directory / "sshd.log"

    def start(self, timeout=15.0):
        self.server, self.client = Netns.create("fleet"), Netns.create("fleet")
        self._link()
        for key in (self.key, self.directory / "host_ed25519"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        shutil.copyfile(f"{self.key}.pub", self.directory / "authorized_keys")
        config = self.directory / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {ADDRESS}", "Port 22",
            f"HostKey {self.directory / 'host_ed25519'}",
            f"AuthorizedKeysFile {self.directory / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no",
            "StrictModes no",  # the keys live under /tmp (world-writable)
            f"PidFile {self.directory / 'sshd.pid'}",
            "Subsystem sftp /usr/lib/openssh/sftp-server", "LogLevel VERBOSE", ""]))
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            self._made_privsep = True
        with open(self.log, "w") as log:
            self.sshd = process.start(
                ["nsenter", f"--net={self.server.path}", SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.ssh_executable.write_text(
            f"#!/bin/sh\nexec nsenter --net={self.client.path} /usr/bin/ssh \"$@\"\n")
        self.ssh_executable.chmod(0o755)
        self._wait_listening(timeout)
        return self

    def _link(self):
        with self.client.ipr() as ipr:
            ipr.link("add", ifname=_CLIENT_LINK, kind="veth",
                     peer={"ifname": _SERVER_LINK, "net_ns_fd": self.server.path})
        for ns, name, address in ((self.client, _CLIENT_LINK, CLIENT_ADDRESS),
                                  (self.server, _SERVER_LINK, ADDRESS)):
            with ns.ipr() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                index = ipr.link_lookup(ifname=name)[0]
                ipr.addr("add", index=index, address=address, prefixlen=PREFIX)
                ipr.link("set", index=index, state="up")

    def _wait_listening(self, timeout):
        """Until sshd, seen from the client namespace, greets (it says its version first)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.sshd.returncode}: "
                                   f"{self.log.read_text()}")
            try:
                if self.client.call(_banner, ADDRESS, 22).startswith(b"SSH-2.0-"):
                    return
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise TimeoutError(f"sshd on {ADDRESS}:22 did not answer in {timeout:.0f} s ({last}): "
                           f"{self.log.read_text()}")

    def inventory_vars(self, port=22):
        """Ansible host variables that reach this sshd (or, with another port, nobody)."""
        return {
            "ansible_host": ADDRESS, "ansible_port": port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_executable": str(self.ssh_executable),
            # No persistent master connection: nothing outlives the play.
            "ansible_ssh_args": "-o ControlMaster=no -o ControlPath=none "
                                "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                "-o LogLevel=ERROR -o ConnectTimeout=10",
            # Files go through the same ssh (dd at both ends): no sftp/scp outside the wrapper.
            "ansible_ssh_transfer_method": "piped",
        }

    def close(self):
        """Stop sshd and any session still open (by pid: what it started), remove the
        namespaces and sshd's privilege separation directory if it was made here."""
        if self.sshd is not None and self.sshd.poll() is None:
            sessions = _descendants(self.sshd.pid)
            self.sshd.terminate()
            for pid in sessions:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait()
        for ns in (self.client, self.server):
            if ns is not None:
                ns.remove()
        if self._made_privsep:
            try:
                PRIVSEP_DIR.rmdir()
            except OSError:
                pass  # someone else's sshd uses it now


def _banner(address, port):
    with socket.create_connection((address, port), timeout=1) as s:
        return s.recv(64)


def _descendants(pid):
    """Pids of the processes descended from pid."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    left, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            left.append(child)
            todo.append(child)
    return left
