"""The arrows between packages (.importlinter, checked by import-linter): apps layered
monitoring -> virtualservers -> lbadmin, pure packages free of Django and the apps,
product code free of the tests. Each contract is also shown to fail when broken."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The broken-arrow tests write a probe module into the source tree for a moment; the clean
# check must not run meanwhile: scripts/test gives each file to one xdist worker (loadfile).


def lint_imports() -> subprocess.CompletedProcess:
    # The console script installed beside this Python (requirements-test.txt pins it).
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept():
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


@pytest.mark.parametrize("where, source, broken", [
    # virtualservers -> monitoring closes a cycle: monitoring already imports virtualservers.
    ("virtualservers/_arrow_probe.py", "from monitoring import views  # noqa: F401\n", "Apps are layered"),
    # An import inside a function is still an arrow.
    ("lbadmin/_arrow_probe.py", "def later():\n    from virtualservers import models  # noqa: F401\n", "Apps are layered"),
    ("virtualservers/ipvs/_arrow_probe.py", "import django.db  # noqa: F401\n", "Pure packages"),
    ("monitoring/checks/_arrow_probe.py", "from virtualservers import models  # noqa: F401\n", "Pure packages"),
    ("monitoring/_arrow_probe.py", "import tests.services  # noqa: F401\n", "Product code never imports the tests"),
])
def test_it_fails_when_an_arrow_is_broken(where, source, broken):
    probe = ROOT / where
    assert not probe.exists()
    probe.write_text(source)
    try:
        done = lint_imports()
    finally:
        probe.unlink()
    assert done.returncode != 0
    assert f"{broken}" in done.stdout and "BROKEN" in done.stdout, done.stdout
    assert "_arrow_probe" in done.stdout
