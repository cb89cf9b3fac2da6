"""What a test needs from the machine, said once: under CI=true a missing need fails the
test with what to install (.ci/run installs everything the suite uses), so no skip can
hide coverage there; on a developer's machine it skips with the same words."""
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def need(available: bool, why: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{why}: CI=true needs it (.ci/run installs and runs as root)", pytrace=False)
    pytest.skip(why)


@pytest.fixture
def as_root():
    """Tests of the worker's own situation: it runs as root (setuid to nobody for programs)."""
    need(os.geteuid() == 0, "the worker's case: running as root")
