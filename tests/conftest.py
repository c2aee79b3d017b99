"""Fixtures for kvmnet's own tests (the runner itself is in support/suite_runner.py)."""

import os
import time

import pytest

from kvmnet import lab
from kvmnet.host import netns
from kvmnet.host.vhost import VHOST_NET_DEVICE
from support.suite_runner import Suite, build_fault_library

_LEFT_TO_LAB = pytest.StashKey[int]()
ORPHAN_GRACE = 15  # seconds another test's run may take to remove what it left (no_netns_left)


def pytest_collection_modifyitems(config, items):
    """On a host without vhost-net, the tests that need it are left to the kernel lab
    (tests/test_lab.py runs them inside kernels that have it) rather than skipped here."""
    if lab.inside() or os.path.exists(VHOST_NET_DEVICE):
        return
    lab_only = [item for item in items if item.get_closest_marker("needs_vhost_net")]
    if lab_only:
        config.hook.pytest_deselected(items=lab_only)
        items[:] = [item for item in items if item not in lab_only]
        config.stash[_LEFT_TO_LAB] = len(lab_only)


def pytest_report_collectionfinish(config):
    if config.stash.get(_LEFT_TO_LAB, 0):
        return (f"kvmnet tests: {config.stash[_LEFT_TO_LAB]} test(s) needing vhost-net, absent "
                "here, run inside the kernel lab instead (tests/test_lab.py)")
    return None


@pytest.fixture(scope="session")
def fault_library(tmp_path_factory):
    """Builds tests/faults/inject.c; yields the path of the preloadable library. Session."""
    return build_fault_library(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def suite(fault_library):
    """Yields a Suite to run the conformance suite in a subprocess. Function scope."""
    s = Suite(fault_library)
    yield s
    s.cleanup()


@pytest.fixture
def no_netns_left():
    """Fails the test if a kvmnet namespace outlives the process that made it.

    Namespaces of live processes are other tests' (xdist) and are not counted.
    """
    before = set(netns.orphans())
    yield
    left = set(netns.orphans()) - before
    # A run that another test killed or interrupted (on another xdist worker) leaves
    # orphans until that test sweeps them, moments later: wait that long before blaming
    # this test. CI saw one such pair once, from a run whose worker had just exited.
    deadline = time.monotonic() + ORPHAN_GRACE
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left &= set(netns.orphans())
    assert not left, f"namespaces left behind: {sorted(left)}"
