"""The lab machine: QEMU emulating a whole PC (TCG, no host KVM) with AMD's SVM, so the
candidate kernel booted in it has a KVM of its own, nested inside the emulation.

The host's / is shared read-only over virtio-9p (the lab writes only to its tmpfs overlay
and the results share); QEMU gets no network device, so every frame the suite sends stays
inside the lab kernel's own namespaces. Every QEMU carries `-name kvmnet-lab-<pid>` (the
pid of the process that started it) and dies with that process (PR_SET_PDEATHSIG); `sweep`
kills any whose starter is gone all the same.
"""

import ctypes
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kvmnet.lab.errors import LabFailed
from kvmnet.process import alive

QEMU = "qemu-system-x86_64"
MARK = "kvmnet-lab-"
_MARK_ARG = re.compile(rf"^{MARK}(\d+)$")
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Job:
    """A command for the lab to run: argv in cwd with env, inside the lab's root."""
    argv: tuple
    cwd: str
    env: dict = field(default_factory=dict)

    def script(self, share):
        lines = ["cd " + shlex.quote(self.cwd) + " || exit 126"]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(self.env.items())]
        lines.append(f"exec {shlex.join(self.argv)} >{share}/output 2>&1 </dev/null")
        return "\n".join(lines) + "\n"


@dataclass
class LabRun:
    """What a finished lab run brings back; directory is its results share."""
    status: int
    directory: Path
    boot_seconds: float
    seconds: float

    @property
    def output(self):
        return _text(self.directory / "output")

    @property
    def console(self):
        return _text(self.directory / "console.log")


SHARE = "/run/kvmnet-lab"  # where the results share appears inside the lab's root
# The lab kernel's timer: the LAPIC's, ticking periodically (no TSC deadline, no tickless
# idle, no high-resolution one-shots). With the defaults, a lab running a Linux guest now
# and then lost its timer interrupt and never armed the next: the whole lab at rest, every
# timeout inside it stopped (2026-12-06: several of ~50 nested Linux boots).
TIMER = "lapic=notscdeadline highres=off nohz=off"


def command(kernel, initrd, directory, vcpus, memory_mib, append=""):
    """QEMU's argument list for booting kernel with initrd, directory as the results share."""
    return [
        QEMU, "-name", f"{MARK}{os.getpid()}", "-accel", "tcg", "-cpu", "max",
        "-smp", str(vcpus), "-m", str(memory_mib), "-nodefaults", "-display", "none",
        "-no-reboot", "-monitor", "none", "-nic", "none",
        "-chardev", f"file,id=console,path={directory / 'console.log'}",
        "-serial", "chardev:console",
        "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
        "-append", f"console=ttyS0 quiet panic=-1 {TIMER} {append}".strip(),
        "-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,"
                   "multidevs=remap",
        "-virtfs", f"local,path={directory},mount_tag=results,security_model=none"]


def boot(kernel, initrd, job, directory, *, vcpus=1, memory_mib=4096, boot_timeout=180,
         timeout=3600, follow=None, append=""):
    """Boot kernel, run job inside it and power off; returns a LabRun.

    Raises LabFailed (with the console's tail) if the kernel panics, hangs before the job
    starts (boot_timeout) or the whole run outlasts timeout. follow(text) is called with
    the job's output as it appears. QEMU never outlives this call."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("started", "status", "output", "console.log"):
        (directory / stale).unlink(missing_ok=True)
    (directory / "job.sh").write_text(job.script(SHARE))
    start = time.monotonic()
    # A library preloaded to break the suite (tests/faults) is for the job, not for QEMU.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.Popen(command(kernel, initrd, directory, vcpus, memory_mib, append),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env,
                            preexec_fn=_die_with_parent(os.getpid()))
    booted = None
    tail = _Follower(directory / "output", follow)
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if booted is None and (directory / "started").exists():
                booted = now - start
            if booted is None and now - start > boot_timeout:
                raise _failure(directory, f"the lab kernel {kernel.release} did not start the "
                                          f"job within {boot_timeout} s (hung at boot?)")
            if now - start > timeout:
                raise _failure(directory, f"the lab run outlasted its {timeout} s")
            tail.poll()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        qemu_said = proc.communicate()[0].decode(errors="replace")
    tail.poll()
    seconds = time.monotonic() - start
    status = _text(directory / "status").strip()
    if not status.isdigit():
        console = _text(directory / "console.log")
        if "Kernel panic" in console:
            why = f"the lab kernel {kernel.release} panicked"
        elif proc.returncode:
            why = f"QEMU failed (status {proc.returncode}): {qemu_said.strip()}"
        else:
            why = f"the lab kernel {kernel.release} powered off before the job ended"
        raise _failure(directory, why)
    return LabRun(int(status), directory, booted or seconds, seconds)


def _failure(directory, message):
    return LabFailed(message, _text(directory / "console.log"))


class _Follower:
    """Hands what was appended to a file since the last poll to follow."""

    def __init__(self, path, follow):
        self.path, self.follow, self.offset = path, follow, 0

    def poll(self):
        if self.follow is None:
            return
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            self.offset += len(chunk)
            self.follow(chunk.decode(errors="replace"))


def _die_with_parent(parent):
    libc = ctypes.CDLL(None, use_errno=True)

    def arrange():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return arrange


def _text(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def running():
    """{QEMU pid: starter pid} of every lab QEMU on this host."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for flag, value in zip(argv, argv[1:]):
            marked = flag == b"-name" and _MARK_ARG.match(value.decode(errors="replace"))
            if marked:
                found[int(entry.name)] = int(marked.group(1))
    return found


def sweep():
    """Kill the lab QEMUs whose starter is gone; return their pids."""
    killed = []
    for pid, starter in running().items():
        if not alive(starter):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed
