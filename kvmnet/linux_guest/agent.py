"""kvmnet-agent: the guest image's control protocol (guestimg/PROTOCOL.md) served by a static
Linux program, so that a Linux guest's own drivers drive the device models. It is built from
guestimg/agent/ (which reuses the guest image's portable C) with the host's gcc.

In the Linux guest it runs from /init and talks on COM1; `--stdio --nic <ifname>=<model>`
runs it on a host over stdin/stdout, on the interfaces named (tests/test_agent.py).
"""

import subprocess
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "guestimg" / "agent"
AGENT_NAME = "kvmnet-agent"


class AgentBuildError(RuntimeError):
    """The agent could not be built; the message holds the compiler's output."""


def build_agent(out_dir) -> Path:
    """Build the agent into out_dir (make keeps it up to date there); its path."""
    out_dir = Path(out_dir).resolve()
    done = subprocess.run(["make", "-s", "-C", str(SOURCES), f"O={out_dir}"],
                          capture_output=True, text=True)
    if done.returncode:
        raise AgentBuildError(f"building {AGENT_NAME} failed:\n{done.stdout}{done.stderr}")
    return out_dir / AGENT_NAME
