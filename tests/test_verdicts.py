"""The run's verdict as a release manager reads it: each failure's fault class, in the
terminal's verdict table and as the `fault` label of its Allure result; and --kvmnet-require
turning a requirement skip into a failure."""

import json
from pathlib import Path

import pytest

from support.suite_runner import expect

from fixtures.verdicts import (BUILTIN, HOST_PATH, KNOWN, LACKING, QEMU, REGRESSION, SETUP,
                               THRESHOLD, Verdicts)

NIC_FAULTS = "tests.faults.nic_plugin"
DELIVERY = "conformance/test_delivery.py::test_peer_to_guest_every_frame_intact_and_in_order"
VARIANTS = [f"{DELIVERY}[{runner}-virtio-64]" for runner in ("builtin", "qemu")]
GROUP_CLOSED = ("conformance/test_macvtap.py::test_a_group_closed_again_stops_arriving"
                "[builtin-virtio-bridge]")
VHOST_NET = ("conformance/test_vhost.py::test_after_handoff_frames_flow_both_ways_intact"
             "[builtin-vhost-net-bridge-64]")


def faults(result):
    """{node id: fault label} of the run's Allure results."""
    found = {}
    for path in Path(result.allure_dir).glob("*-result.json"):
        labels = {l["name"]: l["value"] for l in json.loads(path.read_text())["labels"]}
        if "fault" in labels:
            found[labels["kvmnet_id"]] = labels["fault"]
    return found


def row(result, concern, runner):
    """The verdict table's row for concern x runner."""
    for line in result.stdout.lines:
        cells = line.split("  ")
        cells = [c.strip() for c in cells if c.strip()]
        if cells[:2] == [concern, runner]:
            return line
    raise AssertionError(f"no verdict row for {concern} x {runner}:\n{result.stdout.str()}")


@pytest.mark.parametrize("outcomes, expected", [
    ({"d[builtin-e1000]": ("failed", "lost 3 frames"), "d[qemu-e1000]": ("passed", "")},
     {"d[builtin-e1000]": BUILTIN}),
    ({"d[builtin-e1000]": ("passed", ""), "d[qemu-e1000]": ("failed", "lost 3 frames")},
     {"d[qemu-e1000]": QEMU}),
    ({"d[builtin-e1000]": ("failed", "x"), "d[qemu-e1000]": ("failed", "y")},
     {"d[builtin-e1000]": HOST_PATH, "d[qemu-e1000]": HOST_PATH}),
    ({"caps": ("failed", "KVM_CAP_IRQFD is 0")}, {"caps": HOST_PATH}),
    ({"d[builtin-e1000]": ("setup", "BridgeError: cannot add the bridge")},
     {"d[builtin-e1000]": SETUP}),
    ({"p[builtin]": ("failed", "kvm.builtin.pio_exit: baseline 26 µs, now 40 µs: worse by "
                               "more than its minimum effect 30%")}, {"p[builtin]": REGRESSION}),
    ({"p[builtin]": ("failed", "x: median 2.03k µs (spread 9%) is above its ceiling 550")},
     {"p[builtin]": THRESHOLD}),
    ({"m[builtin-virtio]": ("xfail", "known Linux defect: ...")}, {"m[builtin-virtio]": KNOWN}),
    ({"s[qemu-e1000]": ("xfail", "known QEMU behaviour: ...")},
     {"s[qemu-e1000]": "known QEMU behaviour"}),
    ({"v[qemu]": ("skipped", "host lacks vhost-net: /dev/vhost-net absent")},
     {"v[qemu]": LACKING}),
    ({"m[builtin-virtio]": ("skipped", "source mode takes every frame")}, {}),
    # Only one runner ran it: the other was skipped, or the check exists for one only.
    ({"d[builtin-e1000]": ("failed", "x"), "d[qemu-e1000]": ("skipped", "host lacks qemu")},
     {"d[builtin-e1000]": "host or built-in VMM", "d[qemu-e1000]": LACKING}),
    ({"v[builtin-vhost-user]": ("failed", "kicks exited")},
     {"v[builtin-vhost-user]": "host or built-in VMM"}),
    # A check the macvtap alone decides, run on one runner by design: the host's.
    ({"h[builtin-virtio-bridge]": ("failed", "passed the macvtap")},
     {"h[builtin-virtio-bridge]": HOST_PATH}),
])
def test_each_outcome_gets_its_fault_class(outcomes, expected):
    verdicts = Verdicts(config=None)
    verdicts.host_decides = {n for n in outcomes if n.startswith("h[")}
    for nodeid in outcomes:
        runner = next((r for r in ("builtin", "qemu") if f"[{r}" in nodeid), None)
        check = nodeid.replace(f"[{runner}", "[*") if runner else nodeid
        verdicts.items[nodeid] = ("delivery", runner, check)
    verdicts.outcomes.update(outcomes)
    assert verdicts.classes() == expected


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_a_device_model_fault_is_the_builtin_vmms_and_a_link_fault_the_host_paths(suite,
                                                                                 no_netns_left):
    ids = [suite.path(v) for v in VARIANTS]
    model = suite.run(*ids, "--kvmnet-frames=300", plugins=[NIC_FAULTS],
                      env={"KVMNET_TEST_NIC_FAULTS": "corrupt_rx"})
    expect(model, passed=1, failed=1)
    assert "1 failed (built-in VMM)" in row(model, "delivery", "builtin")
    assert "1 passed" in row(model, "delivery", "qemu")
    assert faults(model) == {VARIANTS[0]: "built-in VMM"}

    link = suite.run(*ids, "--kvmnet-frames=300", plugins=[NIC_FAULTS],
                     env={"KVMNET_TEST_LINK_FAULT": "corrupt"})
    expect(link, failed=2)
    assert "1 failed (host path)" in row(link, "delivery", "qemu")
    assert faults(link) == {v: "host path" for v in VARIANTS}


@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_known_behaviours_and_missing_capabilities_are_told_apart_from_failures(suite,
                                                                               no_netns_left):
    result = suite.run(suite.path(GROUP_CLOSED), suite.path(VHOST_NET), "--kvmnet-frames=300")
    if "vhost-net" not in row(result, "vhost", "builtin"):
        pytest.skip("this host has vhost-net: nothing is lacking")
    assert "1 XFAIL" in row(result, "macvtap", "builtin")
    assert "host lacks vhost-net" in row(result, "vhost", "builtin")
    assert set(faults(result).values()) == {"known Linux behaviour", "host lacks"}


def test_a_required_capability_the_host_lacks_fails_the_run_naming_it(suite):
    lacking = suite.run(suite.path("conformance/test_kvm_api.py"),
                        "--kvmnet-kvm-device=/nonexistent/kvm")
    assert lacking.ret == 0
    required = suite.run(suite.path("conformance/test_kvm_api.py"),
                         "--kvmnet-kvm-device=/nonexistent/kvm", "--kvmnet-require=kvm,root")
    assert required.ret == 1
    required.stdout.fnmatch_lines(["*required by --kvmnet-require, but the host lacks kvm: "
                                   "no KVM device at /nonexistent/kvm*"])
    assert set(faults(required).values()) == {"host lacks"}


def test_an_unknown_capability_is_a_usage_error(suite):
    result = suite.run(suite.path("conformance/test_kvm_api.py"), "--kvmnet-require=kvm,gpu")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--kvmnet-require: gpu is not a capability; choose from*"])
