"""The kernel lab booted for real: the suite run inside two Debian kernels, vhost-net
checked against the real module there, a fault shown failing there, and a lab kernel that
lacks an option, panics, hangs or loses its starter stated as such and leaving nothing.

Each lab run boots a kernel under QEMU's TCG emulation (kvmnet/lab), so these tests take
tens of seconds to minutes each; the kernel packages are fetched once into build/lab.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvmnet.lab import Job, Lab, LabFailed, machine
from kvmnet.lab import debian
from support.processes import sigint_as_at_a_terminal
from support.suite_runner import ROOT, expect, labels

pytestmark = [pytest.mark.needs_root,
              pytest.mark.skipif(shutil.which(machine.QEMU) is None,
                                 reason=f"{machine.QEMU} not found: install qemu-system-x86")]

# Two real builds of one Debian kernel line: the "old" a fleet runs and a "new" candidate.
OLD = "linux-image-6.1.0-47-amd64-unsigned"
NEW = "linux-image-6.1.0-54-amd64-unsigned"
# Everything that needs the kernel's vhost-net: the real-device tests of our own, and the
# conformance rows of both runners on a bridge's tap and on a macvtap.
VHOST_NET = ["tests/test_vhost_kernel.py", "conformance/test_vhost.py",
             "conformance/test_host_caps.py", "-k", "vhost_net or vhost-net"]
# The one skip that selection has anywhere: vhost-net lives in the kernel, it cannot be
# killed from outside (the backend-going-away check's two vhost-net rows).
NOT_KILLABLE = "only a vhost-user backend can be killed from outside"
LAB_TIMEOUT = 1500  # seconds for one lab run's subprocess, booting included


def in_lab(suite, package, *args, **options):
    """suite.run(args) inside package's kernel; the paths in args are this checkout's."""
    paths = [suite.path(a) if a.endswith(".py") or "::" in a else a for a in args]
    return suite.run(*paths, f"--kvmnet-kernel={package}", "--kvmnet-frames=2000",
                     timeout=LAB_TIMEOUT, **options)


def test_vhost_net_runs_for_real_in_two_kernels(suite, no_netns_left):
    """The vhost-net selection passes inside both kernels, every check run (none skips
    naming CONFIG_VHOST_NET), both runners; each result is labelled with the kernel it ran in,
    and the two runs hold the same checks, so they sit side by side in one report."""
    runs = {package: in_lab(suite, package, *VHOST_NET) for package in (OLD, NEW)}
    for package, run in runs.items():
        release = package.removeprefix("linux-image-").removesuffix("-unsigned")
        counts = run.parseoutcomes()
        assert run.ret == 0 and counts.get("passed", 0) > 0, run.stdout.str()
        skips = [line for line in run.stdout.lines if line.startswith("SKIPPED")]
        assert counts.get("skipped") == 2 and all(NOT_KILLABLE in line for line in skips), (
            f"{package}: checks skipped:\n{run.stdout.str()}")
        ran = set(run.verdicts)
        assert any("[qemu-vhost-net-bridge" in name for name in ran), sorted(ran)
        assert any("[builtin-vhost-net-macvtap" in name for name in ran), sorted(ran)
        assert "test_vhost_net_owner_and_features_on_this_kernel" in " ".join(ran)
        assert labels(run.allure_dir, "kernel") == {release}, (
            f"{package}: results not labelled with kernel {release}")
        assert f"kvmnet lab: these checks run inside kernel {release}" in run.stdout.str()
    old, new = runs.values()
    assert set(old.verdicts) == set(new.verdicts), "the two kernels ran different checks"


def test_a_vhost_net_check_fails_in_the_lab_under_its_fault(suite, no_netns_left):
    """A queue's ioeventfd left unregistered: the guest's kicks exit to the VMM, and the
    'no kick exit' check on vhost-net must fail inside the lab as it would on a host;
    without the fault, the same check passes there."""
    node = "conformance/test_vhost.py::test_the_vmm_moves_no_frame_and_takes_no_kick_exit"
    clean = in_lab(suite, OLD, f"{node}[vhost-net-bridge]", plugins=["tests.faults.nic_plugin"])
    expect(clean, passed=1)
    broken = in_lab(suite, OLD, f"{node}[vhost-net-bridge]", plugins=["tests.faults.nic_plugin"],
                    env={"KVMNET_TEST_NIC_FAULTS": "no_ioeventfd"})
    expect(broken, failed=1)
    assert "notifications the guest wrote to its queues exited to the VMM" in \
        broken.stdout.str(), broken.stdout.str()


@pytest.fixture
def kernel_lacking(tmp_path):
    """OLD's kernel as a directory without the vhost_net and kvm_amd modules, its config
    saying so: a kernel built without CONFIG_VHOST_NET and CONFIG_KVM_AMD."""
    def make(*modules):
        real = Lab(OLD).kernel
        root = tmp_path / "kernel"
        moddir = root / "lib/modules" / real.release
        moddir.mkdir(parents=True)
        (root / "boot").mkdir()
        (root / "boot" / real.vmlinuz.name).symlink_to(real.vmlinuz)
        (moddir / "kernel").symlink_to(real.modules / "kernel")
        shutil.copy(real.modules / "modules.builtin", moddir)
        dropped = tuple(f"/{m}.ko" for m in modules)
        deps = [line for line in (real.modules / "modules.dep").read_text().splitlines()
                if not line.split(":")[0].endswith(dropped)]
        (moddir / "modules.dep").write_text("\n".join(deps) + "\n")
        options = {f"CONFIG_{m.upper().replace('-', '_')}=" for m in modules}
        config = [f"# {line.split('=')[0]} is not set" if any(line.startswith(o) for o in options)
                  else line for line in real.config.read_text().splitlines()]
        (root / "boot" / real.config.name).write_text("\n".join(config) + "\n")
        return root
    return make


def test_a_kernel_without_vhost_net_or_kvm_amd_runs_and_skips_naming_them(suite, kernel_lacking,
                                                                         no_netns_left):
    kernel = kernel_lacking("vhost_net", "kvm-amd")
    run = suite.run(suite.path("conformance/test_kvm_api.py::test_api_version_is_12"),
                    suite.path("conformance/test_host_caps.py::test_vhost_net_offers_virtio_net_features"),
                    f"--kvmnet-kernel={kernel}", "-rs", timeout=LAB_TIMEOUT)
    expect(run, skipped=2)
    out = run.stdout.str()
    assert "the kernel is built without CONFIG_KVM_AMD" in out, out
    assert "the kernel is built without CONFIG_VHOST_NET" in out, out
    assert "not in this kernel: kvm_amd vhost_net" in out, out


# The Linux guest (--kvmnet-guest=linux: the lab kernel itself, its own drivers): per
# runner and NIC model, one delivery check (a stream) and the TCP offload check (~25 s a
# check in the lab).
LINUX_SLICE = ["conformance/test_delivery.py", "conformance/test_offloads.py",
               "-k", "(peer_to_guest and 1514) or tcp_segments", "--kvmnet-guest=linux", "-rs"]


def test_the_linux_guest_carries_frames_on_both_runners_and_skips_a_missing_driver(
        suite, kernel_lacking, no_netns_left):
    """Inside a kernel without 8139too, the Linux guest's e1000 and virtio-net (modern and
    transitional) take a peer's stream, and send a TCP stream whose segments are right on
    the wire, on both runners through Linux's own drivers; the rtl8139 rows skip naming
    the module."""
    kernel = kernel_lacking("8139too")
    run = suite.run(*map(suite.path, LINUX_SLICE[:2]), *LINUX_SLICE[2:],
                    f"--kvmnet-kernel={kernel}", "--kvmnet-frames=2000", timeout=LAB_TIMEOUT)
    expect(run, passed=12, skipped=4)
    out = run.stdout.str()
    skips = re.findall(r"SKIPPED \[2\] .*(test_delivery|test_offloads)\.py:\d+: kernel \S+ has "
                       r"no 8139too \(neither built in nor a module\): the Linux guest cannot "
                       r"drive a rtl8139 NIC", out)
    assert sorted(skips) == ["test_delivery", "test_offloads"], out
    passed = [name for name, verdict in run.verdicts.items() if verdict == "passed"]
    assert {name.split("[")[1].split("-")[0] for name in passed} == {"builtin", "qemu"}, passed
    assert sum("tcp_segments" in name for name in passed) == 6, passed
    assert labels(run.allure_dir, "guest") == {"linux"}


def test_a_linux_guest_delivery_check_fails_under_its_fault(suite, no_netns_left):
    """Linux's e1000 driver on the built-in model that corrupts what it receives: the
    delivery check fails naming the stream, where the same check passes without the fault
    (the test above)."""
    node = "conformance/test_delivery.py::test_peer_to_guest_every_frame_intact_and_in_order"
    broken = in_lab(suite, OLD, f"{node}[builtin-e1000-1514]", "--kvmnet-guest=linux",
                    plugins=["tests.faults.nic_plugin"],
                    env={"KVMNET_TEST_NIC_FAULTS": "corrupt_rx"})
    expect(broken, failed=1)
    assert re.search(r"e1000 .*bad [1-9]", broken.stdout.str()), broken.stdout.str()


PLUGIN = "tests.faults.nic_plugin"
OFFLOADS = "conformance/test_offloads.py::"
UDP_CHECK = "test_udp_checksums_the_guest_sends_are_right_on_the_wire[{}-1472B]"
RX_CHECK = "test_a_datagram_with_a_bad_checksum_is_dropped_by_the_guest[{}]"
TCP_CHECK = "test_tcp_segments_the_guest_sends_are_right_on_the_wire[{}]"
FAULTED = ("builtin-e1000", "builtin-virtio")


def failure_lines(run):
    """The `E` lines of a run's failures: what its checks said."""
    return "\n".join(line for line in run.stdout.lines if line.startswith("E "))


def test_the_offload_checks_fail_under_their_faults_with_linux_drivers(suite, no_netns_left):
    """Linux's e1000 and virtio_net drivers on built-in models that get their offloads
    wrong. The device inserts a wrong UDP checksum (e1000) or drops the driver's request
    for one (virtio-net): the UDP check fails naming the checksum. It marks a damaged
    datagram verified: the guest's stack takes it, and the receive check says so. It cuts
    TCP segments one byte over the MSS (e1000's TSO; virtio-net's gso_size to the tap):
    the segment check fails naming the segment and the MSS."""
    said = failing_under(suite, "bad_tx_csum,rx_csum_trusted", UDP_CHECK, RX_CHECK)
    for model in ("e1000", "virtio"):
        assert re.search(rf"{model} \(Linux driver offloads: txcsum=1 [^\n]*1472-byte "
                         r"datagrams:\nE\s+frame \d+ \(UDP, 1480 bytes\): UDP checksum "
                         r"0x[0-9a-f]{4}, should be 0x", said), said
        assert re.search(rf"{model} \(Linux driver offloads: [^\n]*\): the datagram damaged "
                         r"after its UDP checksum was computed reached the guest's socket",
                         said), said
    said = failing_under(suite, "tso_over_mss", TCP_CHECK)
    for model in ("e1000", "virtio"):
        assert re.search(rf"{model} \(Linux driver offloads: [^\n]*tso=1[^\n]*TCP send:\n"
                         r"(E\s+frame .*\n)*E\s+frame \d+ \(TCP seq \d+, 1449 bytes\): 1449 "
                         r"bytes of data and 12 of options, over the peer's MSS 1460", said), said


def failing_under(suite, faults, *checks):
    """What checks (one each per FAULTED model) said, all failing in the lab under the
    built-in models' faults."""
    run = in_lab(suite, OLD, *[OFFLOADS + check.format(model) for model in FAULTED
                               for check in checks],
                 "--kvmnet-guest=linux", plugins=[PLUGIN], env={"KVMNET_TEST_NIC_FAULTS": faults})
    expect(run, failed=len(FAULTED) * len(checks))
    return failure_lines(run)


def _lab_machines_of(starter):
    return [pid for pid, who in machine.running().items() if who == starter]


def test_a_panicking_lab_kernel_fails_with_its_console(tmp_path):
    """No init to run: the kernel panics, QEMU stops (-no-reboot), and the failure says so
    with the console's last lines."""
    started = time.monotonic()
    with pytest.raises(LabFailed, match="panicked") as failed:
        Lab(OLD).run(Job(("true",), "/"), tmp_path, append="rdinit=/nonexistent")
    assert "Kernel panic" in str(failed.value)
    assert time.monotonic() - started < 120
    assert not _lab_machines_of(os.getpid())


def test_a_hung_lab_kernel_is_stopped_within_its_boot_timeout(tmp_path):
    """An init that never runs the job: the lab gives up after boot_timeout, naming it,
    and QEMU is gone."""
    started = time.monotonic()
    with pytest.raises(LabFailed, match="did not start the job within 20 s"):
        Lab(OLD).run(Job(("true",), "/"), tmp_path, boot_timeout=20,
                     append="rdinit=/bin/busybox -- sleep 600")
    assert time.monotonic() - started < 60
    assert not _lab_machines_of(os.getpid())


STARTER = """
import sys
from kvmnet.lab import Job, Lab
Lab(sys.argv[1]).run(Job(("sleep", "600"), "/"), sys.argv[2])
"""


def _wait_for_machine(starter, timeout=60):
    deadline = time.monotonic() + timeout
    while not _lab_machines_of(starter):
        assert time.monotonic() < deadline, "the lab machine never started"
        time.sleep(0.2)
    return _lab_machines_of(starter)


def _gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_lab_machine_dies_with_a_starter_killed_by_sigkill(tmp_path):
    starter = subprocess.Popen([sys.executable, "-c", STARTER, OLD, str(tmp_path)], cwd=ROOT)
    qemu = _wait_for_machine(starter.pid)
    starter.kill()
    starter.wait()
    assert _gone(qemu), f"lab QEMU {qemu} outlived its SIGKILLed starter"


def test_ctrl_c_to_the_run_stops_the_lab_machine(tmp_path):
    """SIGINT to the whole process group, as a terminal sends it: the run says it was
    interrupted, exits 2, and no QEMU is left."""
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                            str(ROOT / "conformance/test_kvm_api.py"), f"--kvmnet-kernel={OLD}",
                            f"--kvmnet-lab-results={tmp_path}", "--alluredir", str(tmp_path / "a")],
                           cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, text=True,
                           preexec_fn=sigint_as_at_a_terminal)
    qemu = _wait_for_machine(run.pid)
    os.killpg(run.pid, signal.SIGINT)
    out, _ = run.communicate(timeout=60)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "interrupted; the lab machine was stopped" in out
    assert _gone(qemu), f"lab QEMU {qemu} outlived the interrupted run"


def test_sweep_kills_a_lab_machine_whose_starter_is_gone():
    """A lab QEMU left by a starter that is gone (here one started without the parent-death
    signal, for a pid that has exited) is killed by the next run's sweep."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = subprocess.Popen([machine.QEMU, "-name", f"{machine.MARK}{dead.pid}", "-accel", "tcg",
                               "-nodefaults", "-display", "none", "-S", "-m", "16"],
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while orphan.pid not in machine.running():
            assert time.monotonic() < deadline, "the orphan never showed its mark"
            time.sleep(0.05)
        assert orphan.pid in machine.sweep()
        assert orphan.wait(10) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_kernel_package_is_downloaded_once(monkeypatch):
    Lab(OLD)  # fetched and unpacked, if this is the first time
    fetched = []
    run = subprocess.run

    def recording(argv, *args, **kwargs):
        if argv[:2] == ["apt-get", "download"]:
            fetched.append(argv)
        return run(argv, *args, **kwargs)

    monkeypatch.setattr(debian.subprocess, "run", recording)
    assert Lab(OLD).kernel.release == "6.1.0-47-amd64"
    assert not fetched, f"the cached package was downloaded again: {fetched}"
