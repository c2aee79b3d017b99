"""Every vhost check fails when the handoff it checks is broken.

The unchanged conformance/test_vhost.py runs in a subprocess with tests/faults/nic_plugin.py
loaded, on the vhost-user path (dpdk-testpmd; kernel vhost-net is absent here): the built-in
virtio-net with a fault switch on (a descriptor table address one page off, a queue's
ioeventfd not registered, the first TX chain the VMM sends after taking the rings back
lost), no interrupt path, a VMM that offers features its backend lacks, or one that never
hears the backend go; or a guest image whose driver never kicks. Each case first shows the
same checks passing without the fault.
"""

import pytest

from kvmnet import guest_image
from kvmnet.backends.vhost import testpmd
from support.suite_runner import expect

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root,
              pytest.mark.skipif(testpmd.missing() is not None, reason=str(testpmd.missing()))]

PLUGIN = "tests.faults.nic_plugin"
SUITE = "conformance/test_vhost.py"
PATH = "vhost-user-bridge"
SMALLER_BACKEND = {"KVMNET_TEST_VHOST_LACKS": "VIRTIO_RING_F_EVENT_IDX"}

CASES = [
    # (what is broken, environment for the plugin, the check that must fail, a phrase its
    # report must hold, environment the clean run keeps)
    ("the backend is told a wrong vring address", {"KVMNET_TEST_NIC_FAULTS": "bad_vring_addr"},
     f"test_after_handoff_frames_flow_both_ways_intact[builtin-{PATH}-512]",
     "the guest's virtio sent", {}),
    ("a queue's ioeventfd not registered", {"KVMNET_TEST_NIC_FAULTS": "no_ioeventfd"},
     f"test_the_vmm_moves_no_frame_and_takes_no_kick_exit[{PATH}]",
     "notifications the guest wrote to its queues exited to the VMM", {}),
    ("no interrupt path", {"KVMNET_TEST_NO_IRQ": "1"},
     f"test_guest_interrupts_arrive_through_the_irqfd[{PATH}]", "interrupts", {}),
    ("a TX chain lost each time the VMM takes the rings back",
     {"KVMNET_TEST_NIC_FAULTS": "lose_descriptor"},
     f"test_rings_handed_back_and_forth_mid_stream_lose_nothing[{PATH}]", "lost", {}),
    # dpdk-testpmd lacks features this guest never accepts (HOST_TSO4...): the offer itself
    # is what the check must read.
    ("features offered whatever the backend lacks", {"KVMNET_TEST_VHOST_OFFER_ALL": "1"},
     f"test_a_feature_the_backend_lacks_is_not_offered[{PATH}]", "which the backend lacks",
     {}),
    ("features offered whatever a smaller backend lacks",
     SMALLER_BACKEND | {"KVMNET_TEST_VHOST_OFFER_ALL": "1"},
     f"test_a_feature_the_backend_lacks_is_not_offered[{PATH}]", "VIRTIO_RING_F_EVENT_IDX",
     SMALLER_BACKEND),
    ("the VMM keeps the rings", {"KVMNET_TEST_VHOST_NO_HANDOFF": "1"},
     f"test_after_handoff_frames_flow_both_ways_intact[builtin-{PATH}-512]",
     "not through the backend: the built-in VMM never handed the rings to the backend", {}),
    ("the VMM never hears the backend go", {"KVMNET_TEST_VHOST_DEAF": "1"},
     f"test_the_backend_going_away_stops_the_guest_cleanly[{PATH}]", "did not notice", {}),
]


@pytest.mark.parametrize("what, env, check, phrase, clean_env", CASES,
                         ids=[c[0] for c in CASES])
def test_vhost_check_fails_when_the_handoff_is_broken(suite, no_netns_left, what, env, check,
                                                      phrase, clean_env):
    node = f"{suite.path(SUITE)}::{check}"
    clean = suite.run(node, "--kvmnet-frames=3000", plugins=[PLUGIN], env=clean_env)
    expect(clean, passed=1)
    broken = suite.run(node, "--kvmnet-frames=3000", plugins=[PLUGIN], env=env)
    expect(broken, failed=1)
    assert phrase in broken.stdout.str(), f"{what}: the failure does not say {phrase!r}"


def test_no_kick_exit_check_fails_when_the_guest_never_kicks(suite, no_netns_left):
    """A guest that never notifies its data queues (guest image fault switch
    VIRTIO_NO_NOTIFY; testpmd polls the rings, so frames still flow) takes no kick exit by
    default: the check must say it saw no notification rather than pass. (The first stop
    of this project's check decided on the single kick the guest wrote in 4,000 frames.)"""
    node = f"{suite.path(SUITE)}::test_the_vmm_moves_no_frame_and_takes_no_kick_exit[{PATH}]"
    expect(suite.run(node), passed=1)
    silent = guest_image.build(faults=["VIRTIO_NO_NOTIFY"])
    broken = suite.run(node, f"--kvmnet-guest-image={silent}")
    expect(broken, failed=1)
    assert "the guest wrote 0 notifications, fewer than the 1000 asked of it" in \
        broken.stdout.str(), "the check failed for another reason"
