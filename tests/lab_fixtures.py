"""pytest fixtures for the lab director VM.

    from tests.lab_fixtures import lab_vm, clean_lab_vm, lab_pair  # noqa: F401

lab_vm boots one VM per test session (building the image first if needed) and stops it at
the end. clean_lab_vm is the same VM reset before the test: empty IPVS table, every real
server's web server running. Tests that change the table or stop a real server should
use clean_lab_vm, so no test sees another's leftovers. lab_pair is the same VM with its
director pair (dirA, dirB) booted afresh: empty tables, no keepalived configuration.

The VM is shared through a module-level reference count, so importing these fixtures into
more than one place (tests/conftest.py and a test module) still boots a single VM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from lab.vm import LabVM

_lock = threading.Lock()
_shared: LabVM | None = None
_users = 0


def acquire_lab_vm() -> LabVM:
    """The session's VM, booted on first use."""
    global _shared, _users
    with _lock:
        if _shared is None:
            vm = LabVM()
            vm.start()
            _shared = vm
        _users += 1
        return _shared


def release_lab_vm() -> None:
    global _shared, _users
    with _lock:
        _users -= 1
        if _users == 0 and _shared is not None:
            _shared.stop()
            _shared = None


@pytest.fixture(scope="session")
def lab_vm() -> Iterator[LabVM]:
    vm = acquire_lab_vm()
    try:
        yield vm
    finally:
        release_lab_vm()


@pytest.fixture
def clean_lab_vm(lab_vm: LabVM) -> Iterator[LabVM]:
    if not lab_vm.is_running():  # a test killed it (stop() simulates a dead director)
        lab_vm.start()
    lab_vm.reset()
    # The reset put the kernel's sysctls back: what this process remembers having set on
    # the lab's director (by id, which a later test's director may reuse) no longer holds.
    from virtualservers.reconcile import forget_executors

    forget_executors()
    yield lab_vm


@pytest.fixture
def lab_pair(lab_vm: LabVM) -> Iterator[LabVM]:
    """The session's VM with its director pair as after boot: both directors up with an
    empty IPVS table and no keepalived configuration (the rest of the lab untouched)."""
    if not lab_vm.is_running():
        lab_vm.start()
    lab_vm.reset_pair()
    yield lab_vm
