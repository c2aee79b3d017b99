"""Plumbing for try_nics.py: a network namespace with a bridge, taps for QEMU and a veth
whose far end is the peer (raw frames through AF_PACKET), and QEMU sessions that speak
the guest protocol on COM1 (through try_qemu.Guest).

The namespace is kvmnet-g-<pid>: br0 with tap0..tap3 and veth-h as ports, veth-p (the
peer, PEER_MAC) outside the bridge, IPv6 off so that nothing but our frames moves.
"""
import ctypes
import os
import socket
import subprocess
import time

from try_qemu import QBOOT, Guest, expect, frame

NS = f"kvmnet-g-{os.getpid()}"
PEER_MAC = "02:00:00:00:00:01"
TAPS = 4                # one per NIC of the --multi run


def guest_mac(i):
    return f"02:00:00:00:00:{0x10 + i:02x}"


DEVICES = {
    "e1000": "e1000",
    "rtl8139": "rtl8139",
    "virtio": "virtio-net-pci,disable-legacy=on",
    "virtio-legacy": "virtio-net-pci",
}
ETH_P_ALL, PACKET_OUTGOING = 0x0003, 4


def sh(*args):
    subprocess.run(args, check=True)


def make_namespace():
    sh("ip", "netns", "add", NS)
    run = ["ip", "netns", "exec", NS]
    sh(*run, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
       "net.ipv6.conf.default.disable_ipv6=1")
    ipn = ["ip", "-n", NS]
    sh(*ipn, "link", "add", "br0", "type", "bridge", "stp_state", "0",
       "forward_delay", "0", "mcast_snooping", "0")
    taps = [f"tap{i}" for i in range(TAPS)]
    for tap in taps:
        sh(*ipn, "tuntap", "add", "dev", tap, "mode", "tap")
    sh(*ipn, "link", "add", "veth-h", "type", "veth", "peer", "name", "veth-p")
    sh(*ipn, "link", "set", "veth-p", "address", PEER_MAC)
    for dev in taps + ["veth-h"]:
        sh(*ipn, "link", "set", dev, "master", "br0")
    for dev in ["br0", "veth-h", "veth-p", "lo"] + taps:
        sh(*ipn, "link", "set", dev, "up")


def set_mtu(mtu):
    for dev in ["br0", "veth-h", "veth-p"] + [f"tap{i}" for i in range(TAPS)]:
        sh("ip", "-n", NS, "link", "set", dev, "mtu", str(mtu))


def remove_namespace():
    subprocess.run(["ip", "netns", "del", NS])


def enter_namespace():
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{NS}") as f:
        if libc.setns(f.fileno(), 0x40000000) != 0:      # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")


class Peer:
    """The far end of the veth: raw frames in and out."""

    def __init__(self):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)   # SO_RCVBUFFORCE: a whole run
        self.s.bind(("veth-p", 0))
        self.s.setblocking(False)

    def send(self, frame):
        while True:
            try:
                return self.s.send(frame)
            except BlockingIOError:
                time.sleep(0.0001)

    def drain(self):
        while self.recv(0) is not None:
            pass

    def recv(self, timeout):
        """One incoming frame, or None after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                data, addr = self.s.recvfrom(65536)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.00005)
                continue
            if addr[2] != PACKET_OUTGOING:
                return data

    def collect(self, count, timeout, want=None):
        """Up to count frames (those want() accepts) within timeout; with arrival times."""
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            f = self.recv(0.05)
            if f is not None and (want is None or want(f)):
                got.append((time.monotonic(), f))
        return got


class Session:
    """A QEMU guest with one NIC per model (NIC i on tap i, MAC guest_mac(i)); the NIC
    under test is self.nic, of self.model, now with address self.mac."""

    def __init__(self, args, models, extra=""):
        self.models, self.n = models, 1
        self.use(0)
        if args.bios != "qboot":
            extra += ",romfile="        # SeaBIOS would run the NIC's iPXE first
        argv = [args.qemu, "-accel", "kvm", "-M", "pc", "-m", "64", "-nodefaults",
                "-nographic", "-no-reboot"]
        argv += ["-bios", QBOOT] if args.bios == "qboot" else []
        argv += ["-kernel", args.image, "-serial", "stdio",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        for i, model in enumerate(models):
            argv += ["-netdev", f"tap,id=n{i},ifname=tap{i},script=no,downscript=no,vhost=off",
                     "-device", f"{DEVICES[model]},netdev=n{i},mac={guest_mac(i)}{extra}"]
        argv += getattr(args, "qemu_args", [])
        self.g = Guest(argv, args.verbose)
        seq, word, hello = self.g.next_message(time.monotonic() + 30)
        self.boot = time.monotonic() - self.g.t0
        expect((seq, word) == (0, "HELLO"), f"no HELLO: {word} {hello}")

    def use(self, nic):
        self.nic, self.model, self.mac = nic, self.models[nic], guest_mac(nic)

    def cmd(self, text, want="OK", timeout=60.0):
        data, final, rest, secs = self.g.command(self.n, text, timeout)
        self.n += 1
        expect(final == want, f"{self.model}: {text!r} -> {final} {rest}")
        return data, rest, secs

    def start(self, text):
        """Send a command whose reply comes later (recv, bounce, serve, irq)."""
        self.pending = (self.n, time.monotonic())
        self.g.send(frame(self.n, text))
        self.n += 1

    def finish(self, stop=False, timeout=60.0):
        if stop:
            self.g.send(b"\n")
        seq, t = self.pending
        data = []
        while True:
            rseq, word, args = self.g.next_message(time.monotonic() + timeout)
            expect(rseq == seq, f"reply for {rseq}, wanted {seq}")
            if word == "DATA":
                data.append(args)
                continue
            expect(word == "OK", f"{self.model}: {word} {args}")
            return data, fields(args), time.monotonic() - t

    def close(self):
        try:
            self.cmd("exit 0")
            self.g.proc.wait(timeout=10)
        except Exception:
            pass
        self.g.close()


def fields(text):
    return {k: int(v) if v.isdigit() else v for k, v in
            (w.split("=", 1) for w in text.split() if "=" in w)}
