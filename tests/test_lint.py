"""pyflakes-level errors (unused imports, undefined names, unused variables)
fail the suite: ruff, pinned in requirements-test.txt."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_code_has_no_unused_imports_or_undefined_names():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F401,F821,F841", "--no-cache",
                           "lbadmin", "virtualservers", "monitoring", "lab", "tests", "bench"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
