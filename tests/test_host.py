"""kvmnet.host: namespaces, taps, links, vhost-net and kernel config, on the real host."""

import os
import subprocess
import sys

import pytest

from kvmnet import kconfig
from kvmnet.host import links, netns, tun, vhost
from kvmnet.syscall import lib
from kvmnet.host.summary import host_summary
from kvmnet.syscall import SyscallError

needs_root = pytest.mark.needs_root


def netns_inode(path="/proc/thread-self/ns/net"):
    return os.stat(path).st_ino


@needs_root
def test_netns_is_created_named_for_its_process_and_removed():
    with netns.Netns.create("unit") as ns:
        assert ns.name.startswith(f"kvmnet-unit-{os.getpid()}-")
        assert ns.exists() and ns.name in netns.ours()
    assert not ns.exists()
    ns.remove()  # already gone is fine


@needs_root
def test_call_runs_inside_the_namespace_and_leaves_the_caller_where_it_was():
    mine = netns_inode()
    with netns.Netns.create("unit") as ns:
        inside = ns.call(netns_inode)
        assert inside == os.stat(ns.path).st_ino != mine
    assert netns_inode() == mine


@needs_root
def test_call_hands_back_the_exception():
    with netns.Netns.create("unit") as ns, pytest.raises(ZeroDivisionError):
        ns.call(lambda: 1 / 0)


@needs_root
def test_sweep_removes_only_namespaces_of_dead_processes():
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from kvmnet.host.netns import Netns; "
         "print(Netns.create('swept').name, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    orphan = child.stdout.readline().strip()
    child.kill()
    child.wait()
    child.stdout.close()
    with netns.Netns.create("unit") as live:
        removed = netns.sweep()
        assert orphan in removed
        assert live.exists()
    assert orphan not in netns.ours()


@needs_root
def test_remove_created_cleans_up_what_teardown_missed():
    ns = netns.Netns.create("unit")
    netns.remove_created()
    assert not ns.exists()


@needs_root
def test_tap_opened_in_a_namespace_is_there_and_not_in_ours(tmp_path):
    with netns.Netns.create("unit") as ns:
        fd = ns.call(tun.open_tap, "kvunit0")
        try:
            with ns.ipr() as ipr:
                assert links.lookup(ipr, "kvunit0").kind == "tun"
            assert not os.path.exists("/sys/class/net/kvunit0")
        finally:
            os.close(fd)


def test_tun_feature_names_show_aliases_together():
    bits = lib.IFF_TAP | lib.IFF_NO_PI
    assert tun.feature_names(bits) == ["TAP", "NOFILTER/NO_PI"]


@needs_root
@pytest.mark.parametrize("kind", ["bridge", "veth", "macvlan", "macvtap"])
def test_sample_links_read_back_and_go(kind):
    with netns.Netns.create("unit") as ns, ns.ipr() as ipr:
        sample = links.create_sample(ipr, kind, "kvsample0")
        assert sample.error is None and sample.link.kind == kind
        if kind in ("macvlan", "macvtap"):
            assert sample.link.mode == "bridge"
        links.remove(ipr, "kvsample0")
        links.remove(ipr, "kvsample0")  # already gone is fine
        assert links.lookup(ipr, "kvsample0") is None


def test_kernel_config_options(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n")
    monkeypatch.setattr(kconfig, "SOURCES", (str(tmp_path / "absent"), str(config)))
    assert [kconfig.option(f"CONFIG_{c}") for c in "ABCDE"] == ["y", "m", "n", '"x"', "n"]
    monkeypatch.setattr(kconfig, "SOURCES", (str(tmp_path / "absent"),))
    assert kconfig.option("CONFIG_A") is None


@pytest.mark.parametrize("setting, says", [
    ("n", "built without CONFIG_VHOST_NET"), ("m", "modprobe vhost_net"),
    ("y", "device node is missing"), (None, "not readable")])
def test_vhost_net_absence_names_the_kernel_option(monkeypatch, setting, says):
    monkeypatch.setattr(kconfig, "option", lambda name: setting)
    with pytest.raises(vhost.VhostNetUnavailable, match=says):
        vhost.get_features("/nonexistent/vhost-net")


def test_vhost_net_ioctl_errors_name_the_ioctl():
    with pytest.raises(SyscallError, match="VHOST_SET_OWNER: ENOTTY"):
        vhost.get_features("/dev/null")


def test_vhost_feature_names():
    bits = 1 << lib.VIRTIO_F_VERSION_1 | 1 << lib.VIRTIO_NET_F_MRG_RXBUF
    assert vhost.feature_names(bits) == ["VIRTIO_F_VERSION_1", "VIRTIO_NET_F_MRG_RXBUF"]


def test_host_summary_says_what_it_could_not_read():
    facts = host_summary("/nonexistent/kvm", "/nonexistent/tun", "/nonexistent/vhost-net")
    assert facts["kvm"].startswith("unavailable: no KVM device at /nonexistent/kvm")
    assert facts["tun.features"].startswith("unavailable:")
    assert "CONFIG_VHOST_NET" in facts["vhost_net"]
