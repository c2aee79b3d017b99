"""kvmnet-agent run as a host program (--stdio) inside a namespace, on interfaces named."""

import subprocess
import threading

from kvmnet import process
from kvmnet.guest import GuestChannel


class AgentRun:
    """kvmnet-agent --stdio inside ns on the interfaces named; `channel` talks to it, and
    `output` keeps all it wrote (its console notes included) for failure messages."""

    def __init__(self, path, ns, nics):
        argv = ["nsenter", f"--net={ns.path}", "--", str(path), "--stdio"]
        for ifname, model in nics:
            argv += ["--nic", f"{ifname}={model}"]
        self.output = bytearray()
        self.proc = process.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.channel = GuestChannel(self._send)
        self._reader = threading.Thread(target=self._read, name="agent-stdout", daemon=True)
        self._reader.start()

    def _send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read(self):
        while chunk := self.proc.stdout.read1(4096):
            self.output += chunk
            self.channel.receive(chunk)
        self.channel.end(f"kvmnet-agent ended with status {self.proc.wait()}; it wrote "
                         f"{bytes(self.output)!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)
        self.proc.stdin.close()
        self.proc.stdout.close()
