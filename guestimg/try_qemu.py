#!/usr/bin/env python3
"""Boot kvmnet-guest.bin under QEMU and run the protocol smoke test.

Starts QEMU with COM1 on stdio, waits for "!0 HELLO", sends hello, pci,
nics, counters, echo, a corrupted frame, mem, spin3, spin0 and exit, checks the CRC of
every protocol line and the shape of every reply, and prints what came
back with timings.  Standard library only; every wait has a deadline and
QEMU is killed on the way out whatever happens.

    python3 try_qemu.py [--image build/kvmnet-guest.bin] [--bios qboot|default]
                        [--machine pc] [--extended] [--finish exit|fault|triplefault]
"""
import argparse
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
QBOOT = "/usr/share/qemu/qboot.rom"
LINE_RE = re.compile(r"!(?P<body>(?P<seq>\d+) (?P<word>\S+)(?: (?P<args>.*))?)\*(?P<crc>[0-9a-f]{8})")


class Failure(Exception):
    pass


def frame(seq, command):
    """A host line: "<seq> <command>*<crc32 of the text before '*'>\\n"."""
    body = f"{seq} {command}"
    return f"{body}*{zlib.crc32(body.encode()):08x}\n".encode()


class Guest:
    """A QEMU process whose COM1 is our stdin/stdout pipe."""

    def __init__(self, argv, verbose):
        self.verbose = verbose
        self.err = tempfile.TemporaryFile()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.lines = []      # every protocol line, parsed
        self.console = []    # every other line

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.sel.close()
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def send(self, data):
        if self.verbose:
            print(f"  >> {data.decode(errors='replace').rstrip()}")
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def readline(self, deadline):
        """Next complete serial line (without '\\n'); Failure at the deadline or EOF."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("timed out waiting for the guest")
            if not self.sel.select(timeout=left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise Failure(f"QEMU closed the serial port (exit status {self.proc.wait()})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def next_message(self, deadline):
        """Next protocol line as (seq, word, args); console text is kept aside."""
        while True:
            line = self.readline(deadline)
            if self.verbose:
                print(f"  << {line}")
            if not line.startswith("!"):
                self.console.append(line)
                continue
            m = LINE_RE.fullmatch(line)
            if not m:
                raise Failure(f"malformed protocol line: {line!r}")
            crc = zlib.crc32(m["body"].encode())
            if f"{crc:08x}" != m["crc"]:
                raise Failure(f"bad CRC on {line!r}: expected {crc:08x}")
            msg = (int(m["seq"]), m["word"], m["args"] or "")
            self.lines.append(msg)
            return msg

    def command(self, seq, command, timeout=10.0):
        """Send a command; return (DATA args list, final word, final args, seconds)."""
        t = time.monotonic()
        self.send(frame(seq, command))
        deadline = t + timeout
        data = []
        while True:
            rseq, word, args = self.next_message(deadline)
            if rseq != seq:
                raise Failure(f"unexpected line for seq {rseq} while waiting for {seq}: {word} {args}")
            if word == "DATA":
                data.append(args)
            elif word in ("OK", "ERR"):
                return data, word, args, time.monotonic() - t
            else:
                raise Failure(f"unexpected reply word {word!r}")


def expect(cond, what):
    if not cond:
        raise Failure(what)


def qemu_argv(args):
    argv = [args.qemu, "-accel", args.accel, "-M", args.machine, "-m", "64",
            "-nodefaults", "-nographic", "-no-reboot"]
    if args.bios == "qboot":
        argv += ["-bios", QBOOT]
    argv += ["-kernel", args.image, "-serial", "stdio",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    if args.machine != "microvm":
        argv += ["-device", "e1000", "-device", "virtio-net-pci", "-device", "rtl8139"]
    return argv


def run(args):
    argv = qemu_argv(args)
    print("$ " + " ".join(argv))
    g = Guest(argv, args.verbose)
    try:
        deadline = time.monotonic() + args.timeout
        seq, word, hello = g.next_message(deadline)
        boot = time.monotonic() - g.t0
        expect((seq, word) == (0, "HELLO"), f"first protocol line is not HELLO: {word}")
        expect(re.fullmatch(r"kvmnet-guest \S+ ring=3", hello), f"bad HELLO: {hello!r}")
        print(f"HELLO {hello}  (boot-to-HELLO {boot * 1000:.0f} ms)")

        n = 1
        def cmd(text, want="OK", timeout=10.0):
            nonlocal n
            data, final, rest, secs = g.command(n, text, timeout)
            n += 1
            for d in data:
                print(f"  DATA {d}")
            print(f"{text!r:<22} -> {final} {rest}  ({secs * 1000:.1f} ms)")
            expect(final == want, f"{text!r}: expected {want}, got {final} {rest}")
            return data, rest, secs

        _, rest, _ = cmd("hello")
        expect(rest == "kvmnet-guest " + hello.split()[1], f"hello reply {rest!r}")
        data, rest, _ = cmd("pci")
        expect(rest == str(len(data)), f"pci count {rest} but {len(data)} DATA lines")
        for d in data:
            expect(re.fullmatch(r"[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] [0-9a-f]{4}:[0-9a-f]{4} "
                                r"class=[0-9a-f]{6} irq=\d+ pin=\d+"
                                r"( bar[0-5]=(io|mem|mem64):[0-9a-f]+/[0-9a-f]+)*", d),
                   f"bad pci DATA {d!r}")
        data, rest, _ = cmd("nics")
        expect(rest == str(len(data)), f"nics count {rest} but {len(data)} DATA lines")
        for d in data:
            expect(re.fullmatch(r"nic\d+ (rtl8139|e1000|virtio|virtio-legacy) "
                                r"[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] mac=[0-9a-f]{12} mtu=\d+ "
                                r"link=[01] irq=\d+", d), f"bad nics DATA {d!r}")
        if data:
            _, rest, _ = cmd("counters 0")
            expect(re.fullmatch(r"tx=\d+ rx=\d+ rx_bad=\d+ rx_other=\d+ irq=\d+ notify=\d+", rest),
                   f"counters reply {rest!r}")
        _, rest, _ = cmd("echo a b")
        expect(rest == "a b", f"echo reply {rest!r}")

        bad = bytearray(frame(n, "echo corrupted"))
        bad[-3] ^= 0x01                                   # flip a bit of the CRC
        g.send(bytes(bad))
        msg = g.next_message(time.monotonic() + 10)
        print(f"corrupted frame        -> !{msg[0]} {msg[1]} {msg[2]}")
        expect(msg == (0, "ERR", "badframe"), f"corrupted frame answered {msg}")

        _, rest, _ = cmd("mem")
        expect(re.fullmatch(r"lower=\d+ upper=\d+", rest), f"mem reply {rest!r}")
        cmd("spin3 100000")
        cmd("spin0 1000")

        if args.extended:
            cmd("nosuchcmd x", want="ERR")
            cmd("spin3 notanumber", want="ERR")
            cmd("exit", want="ERR")
            g.send(b"x" * 300 + b"\n")
            msg = g.next_message(time.monotonic() + 10)
            print(f"300-byte line          -> !{msg[0]} {msg[1]} {msg[2]}")
            expect(msg == (0, "ERR", "toolong"), f"long line answered {msg}")
            cmd("echo " + "w " * 80, timeout=10)
            for text in args.bench:
                cmd(text, timeout=120)

        want_status = {"exit": 1, "fault": 0x7F * 2 + 1, "triplefault": 0}[args.finish]
        if args.finish == "exit":
            cmd("exit 0")
        else:
            g.send(frame(n, args.finish))
            if args.finish == "fault":
                msg = g.next_message(time.monotonic() + 10)
                print(f"fault                  -> !{msg[0]} {msg[1]} {msg[2]}")
                expect(msg[:2] == (0, "FAULT") and msg[2].startswith("vec=6 "), f"fault gave {msg}")
        try:
            status = g.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Failure("QEMU did not exit")
        print(f"QEMU exit status {status}")
        expect(status == want_status, f"expected QEMU exit status {want_status}")
        print(f"PASS: {len(g.lines)} protocol lines, all CRCs valid")
        return 0
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        stderr = g.close()
        for line in stderr.splitlines():
            if "has no peer" not in line and "pni" not in line:
                print(f"  qemu: {line}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=os.path.join(HERE, "build", "kvmnet-guest.bin"))
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--accel", default="kvm")
    p.add_argument("--machine", default="pc")
    p.add_argument("--bios", choices=["qboot", "default"], default="qboot",
                   help="qboot (-bios qboot.rom) or QEMU's default firmware "
                        "(SeaBIOS for pc/q35, bios-microvm for microvm)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for HELLO")
    p.add_argument("--extended", action="store_true",
                   help="also test unknown/badargs/toolong and run --bench commands")
    p.add_argument("--bench", action="append", default=[],
                   help="extra command to time (with --extended), e.g. 'spin0 100000'")
    p.add_argument("--finish", choices=["exit", "fault", "triplefault"], default="exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print every serial line")
    args = p.parse_args()
    if not os.path.exists(args.image):
        sys.exit(f"no image at {args.image}: run make first")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
