"""What the topology tests look at on the host: a link's netlink attributes (`link_info`),
and the `clean` fixture that fails a test leaving a namespace of this process or an open fd
behind. Import `clean` into a test module to use it (function scope)."""

import os

import pytest

from kvmnet.host import netns


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def mine():
    """kvmnet namespaces this process has."""
    return [n for n in netns.ours() if f"-{os.getpid()}-" in n]


@pytest.fixture
def clean():
    """Checks the test leaves no namespace of this process and no open fd behind."""
    before_fds, before_ns = open_fds(), set(mine())
    yield
    assert set(mine()) == before_ns, "namespaces left behind"
    assert open_fds() <= before_fds, f"fds left open: {sorted(open_fds() - before_fds)}"


def link_info(ns, name):
    with ns.ipr() as ipr:
        msg = ipr.link("get", ifname=name)[0]
    info = msg.get("IFLA_LINKINFO") or {}
    return msg, info.get("IFLA_INFO_DATA"), info.get("IFLA_INFO_SLAVE_DATA")
