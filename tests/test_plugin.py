"""The plugin as a user meets it: skips with reasons, xdist parity, the header, Allure."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvmnet.host import netns
from support.processes import processes_mentioning, sigint_as_at_a_terminal
from support.suite_runner import ROOT, expect

KVM_CHECKS = 6  # tests in conformance/test_kvm_api.py
BOOT_CHECKS = 6  # conformance/test_boot.py: 3 tests x 2 runners
HOST_CHECKS = 7  # conformance/test_host_caps.py
# Checks that move frames, per runner x NIC model (2 x 4): delivery 16 + 3 mixed pairs per
# runner, RX filters 6, link-local 2, interrupts 2, reset 3 and warm reboot 4; and the
# built-in VMM's virtio kicks (2).
NIC_CHECKS = 2 * 4 * (16 + 6 + 2 + 2 + 3 + 4) + 2 * 3 + 2
# conformance/test_macvtap.py, per runner x NIC model: 2 checks x 5 modes, 1 passthru check;
# once (@host_decides): 5 checks x 5 modes, 2 bridge-mode checks, 5 two-guest checks; and one
# check of the kernel alone.
MACVTAP_CHECKS = 2 * 4 * (2 * 5 + 1) + (5 * 5 + 2 + 5) + 1
# conformance/test_vhost.py, per path (3): 6 sizes per runner, 5 built-in VMM checks.
VHOST_CHECKS = 3 * (2 * 6 + 5)
# conformance/test_performance.py (all need KVM): the host alone 3, per runner (2): an exit,
# a boot, the streams of 4 NIC models, their 4 round trips, virtio-net on a macvtap, after 3
# vhost paths; on the built-in VMM, exits per frame for 4 models, an ioeventfd, an irqfd.
PERF_CHECKS = 3 + 2 * (1 + 1 + 4 + 4 + 1 + 3) + 4 + 2
# conformance/test_offloads.py, per runner x NIC model: UDP at 2 sizes, TCP, a damaged
# datagram (they skip, saying so, without the Linux guest).
OFFLOAD_CHECKS = 2 * 4 * (2 + 1 + 1)
FAST_CHECKS = KVM_CHECKS + BOOT_CHECKS + HOST_CHECKS
FRAME_CHECKS = NIC_CHECKS + MACVTAP_CHECKS + VHOST_CHECKS + PERF_CHECKS + OFFLOAD_CHECKS
ALL_CHECKS = FAST_CHECKS + FRAME_CHECKS
# The files whose checks take seconds, not minutes: what the plugin tests run in full.
FAST = ("conformance/test_kvm_api.py", "conformance/test_host_caps.py",
        "conformance/test_boot.py")


@pytest.mark.needs_root
def test_missing_kvm_device_means_skips_with_a_reason(suite, no_netns_left):
    result = suite.run(suite.path("conformance"), "-n", "2",
                       "--kvmnet-kvm-device=/nonexistent/kvm")
    assert result.ret == 0, result.stdout.str()
    expect(result, passed=HOST_CHECKS - 1,
           skipped=KVM_CHECKS + BOOT_CHECKS + FRAME_CHECKS + 1)  # + vhost-net
    result.stdout.fnmatch_lines(["*SKIPPED*no KVM device at /nonexistent/kvm*"])


def test_kvm_device_has_an_ini_twin(suite):
    result = suite.run(suite.path("conformance/test_kvm_api.py"),
                       "-o", "kvmnet_kvm_device=/nonexistent/kvm")
    expect(result, skipped=KVM_CHECKS)


@pytest.mark.needs_root
def test_unprivileged_user_gets_skips_and_exit_0(suite, no_netns_left):
    if not Path(suite.path("conformance")).stat().st_mode & 0o005:
        pytest.skip("this checkout is not readable by other users")
    result = suite.run(suite.path("conformance"), "-n", "2", as_nobody=True)
    assert result.ret == 0, result.stdout.str()
    # Nothing can pass without privileges but the tun check, where /dev/net/tun is open to
    # all (Debian's default, 0666): KVM and namespaces are root's.
    tun_open_to_all = os.stat("/dev/net/tun").st_mode & 0o006 == 0o006
    expect(result, passed=int(tun_open_to_all), skipped=ALL_CHECKS - tun_open_to_all)
    result.stdout.fnmatch_lines(["*SKIPPED*no permission to open /dev/kvm*"])
    result.stdout.fnmatch_lines(["*SKIPPED*needs root*"])


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_xdist_gives_the_same_verdicts_as_a_serial_run(suite, no_netns_left):
    paths = [suite.path(f) for f in FAST]
    serial = suite.run(*paths)
    parallel = suite.run(*paths, "-n", "2")
    assert len(serial.verdicts) == FAST_CHECKS, serial.stdout.str()
    assert serial.verdicts == parallel.verdicts


@pytest.mark.needs_kvm
def test_header_summarises_the_host(suite):
    result = suite.run(suite.path("conformance/test_kvm_api.py::test_api_version_is_12"))
    result.stdout.fnmatch_lines(["kvmnet host: kernel: *", "kvmnet host: kvm.api_version: 12",
                                 "kvmnet host: kvm.vcpus: nr=* max=* max_id=*",
                                 "kvmnet host: vhost_net: *"])


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_allure_results_hold_the_probes_and_the_host(suite, no_netns_left):
    result = suite.run(*[suite.path(f) for f in FAST], "-n", "2")
    results = Path(result.allure_dir)
    env = (results / "environment.properties").read_text()
    assert "kvm.api_version=12" in env and "kernel=" in env, env
    tests = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert len(tests) == FAST_CHECKS
    caps = next(t for t in tests if t["name"] == "test_capabilities_the_network_paths_need")
    attachment = next(a for a in caps["attachments"] if a["name"] == "KVM capabilities")
    assert "KVM_CAP_IRQFD" in (results / attachment["source"]).read_text()
    version = next(t for t in tests if t["name"] == "test_api_version_is_12")
    assert {"name": "KVM_GET_API_VERSION", "value": "12", "excluded": True} in version["parameters"]


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_a_check_keeps_its_identity_while_its_measured_values_change(suite, no_netns_left):
    """Allure knows a test by its name and included parameters: measured values (the guest's
    counts, its cycle counter) are excluded, so two runs are one test with a history."""
    check = suite.path("conformance/test_delivery.py::"
                       "test_peer_to_guest_every_frame_intact_and_in_order[builtin-virtio-64]")
    runs = []
    for frames in (300, 400):
        result = suite.run(check, f"--kvmnet-frames={frames}")
        expect(result, passed=1)
        [test] = [json.loads(p.read_text()) for p in Path(result.allure_dir).glob("*-result.json")]
        runs.append(test)
    first, second = runs
    measured = {p["name"]: p["value"] for p in first["parameters"] if p.get("excluded")}
    assert "guest received" in measured, first["parameters"]
    assert measured != {p["name"]: p["value"] for p in second["parameters"] if p.get("excluded")}
    for key in ("historyId", "testCaseId", "fullName"):
        assert first[key] == second[key], key
    included = [[p for p in t["parameters"] if not p.get("excluded")] for t in runs]
    assert included[0] == included[1] and included[0], included


@pytest.mark.needs_kvm
def test_default_results_directory_is_cleaned_each_run(suite, tmp_path):
    stale = tmp_path / "results" / "stale-result.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    result = suite.run(suite.path("conformance/test_kvm_api.py::test_api_version_is_12"),
                       f"--kvmnet-allure-dir={stale.parent}", allure=False)
    expect(result, passed=1)
    assert not stale.exists()
    assert list(stale.parent.glob("*-result.json"))


@pytest.mark.parametrize("invocation", [["--help"], ["--markers"], ["--collect-only"],
                                        ["--fixtures"], ["--co", "-n", "2"]])
def test_an_invocation_that_runs_no_test_leaves_the_results_alone(suite, tmp_path, invocation):
    kept = tmp_path / "results" / "earlier-result.json"
    kept.parent.mkdir()
    kept.write_text("{}")
    result = suite.run(suite.path("conformance/test_kvm_api.py"), *invocation,
                       f"--kvmnet-allure-dir={kept.parent}", allure=False)
    assert result.ret == 0, result.stdout.str()
    assert kept.exists(), f"{' '.join(invocation)} emptied the results directory"


def interrupted_run(tmp_path, fixtures, netns_of, args=()):
    """Run a test that holds `fixtures` in a subprocess and press Ctrl-C once it holds them;
    (the name of the namespace the expression netns_of gives, the output)."""
    ready = tmp_path / "ready"
    (tmp_path / "test_hold.py").write_text(
        "import pathlib, time\n"
        f"def test_hold({', '.join(fixtures)}):\n"
        f"    pathlib.Path({str(ready)!r}).write_text({netns_of}.name)\n"
        "    time.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "no:cacheprovider",
         "--kvmnet-allure-dir=", *args, str(tmp_path)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, preexec_fn=sigint_as_at_a_terminal)
    with run:
        name = _wait_for(ready, run)
        assert name in netns.ours()
        # What a terminal's Ctrl-C does: SIGINT to the whole foreground process group.
        os.killpg(run.pid, signal.SIGINT)
        out, _ = run.communicate(timeout=60)
    assert "KeyboardInterrupt" in out, out
    return name, out


@pytest.mark.needs_root
@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["serial", "xdist"])
def test_ctrl_c_leaves_no_namespace_behind(tmp_path, workers, no_netns_left):
    name, _ = interrupted_run(tmp_path, ["scratch_netns"], "scratch_netns", workers)
    assert name not in netns.ours()


def _wait_for(ready, run, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        if ready.exists() and ready.read_text():
            return ready.read_text()
        time.sleep(0.05)
    run.kill()
    pytest.fail(f"the held test never started: {run.communicate()[0]}")


@pytest.mark.needs_kvm
@pytest.mark.needs_root
@pytest.mark.parametrize("runner", ["builtin", "qemu"])
def test_ctrl_c_during_a_guest_on_a_bridge_leaves_nothing_behind(tmp_path, runner,
                                                                 no_netns_left):
    """Ctrl-C while a guest runs on a bridge topology: namespaces (and with them the taps
    and the bridge) are removed, and no QEMU is left running."""
    from kvmnet.guest_image import build
    image = tmp_path / "ctrl-c-guest.bin"  # a path no other test's QEMU has on its command line
    image.write_bytes(build().read_bytes())
    name, out = interrupted_run(tmp_path, ["nic_guest", "bridge"], "bridge.netns",
                                [f"--kvmnet-guest-image={image}", "-k", f"{runner}-e1000"])
    assert name not in netns.ours()
    assert not processes_mentioning(str(image), but_not="pytest"), out


def test_the_linux_guest_outside_the_lab_skips_every_guest_check_saying_why(suite):
    """--kvmnet-guest=linux boots the candidate kernel: with no lab there is none, and every
    check that boots a guest says so; the checks without a guest still run."""
    result = suite.run(suite.path("conformance/test_boot.py"),
                       suite.path("conformance/test_kvm_api.py"), "--kvmnet-guest=linux")
    assert result.ret == 0, result.stdout.str()
    expect(result, passed=KVM_CHECKS, skipped=BOOT_CHECKS)
    result.stdout.fnmatch_lines(["*SKIPPED*--kvmnet-guest=linux: the Linux guest boots the "
                                 "kernel lab's candidate kernel: run with --kvmnet-kernel*"])


def test_an_unknown_guest_is_a_usage_error(suite):
    result = suite.run(suite.path("conformance/test_kvm_api.py"), "--kvmnet-guest=windows")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines(["*--kvmnet-guest='windows': one of kvmnet, linux*"])


@pytest.mark.parametrize("guest, outcome", [("linux", "skipped"), ("kvmnet", "failed")])
def test_what_the_linux_guests_kernel_owns_skips_its_check_naming_the_command(
        tmp_path, guest, outcome):
    """kvmnet-agent's ERR kernel (KernelOwned) skips the check under the Linux guest, naming
    the command; from the suite's own image, which never says it, it is a failure."""
    (tmp_path / "test_owned.py").write_text(
        "from kvmnet.guest import KernelOwned\n"
        "def test_needs_irq():\n"
        "    raise KernelOwned(\"'irq 0 intx 4': kernel\", 'irq')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "no:cacheprovider",
         "--kvmnet-allure-dir=", f"--kvmnet-guest={guest}", "-rs", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert f"1 {outcome}" in done.stdout, done.stdout
    if outcome == "skipped":
        assert "the Linux guest cannot `irq`: its kernel owns" in done.stdout, done.stdout
