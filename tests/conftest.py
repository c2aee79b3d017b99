"""Fixtures for kvmnet's own tests (the runner itself is in suite_runner.py)."""

import pytest

from kvmnet.host import netns
from suite_runner import Suite, build_fault_library


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
    assert not left, f"namespaces left behind: {sorted(left)}"
