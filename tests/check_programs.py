"""Check programs installed as the operator installs them: in a root-owned 0755 directory
of their own (LBADMIN_CHECK_PROGRAM_DIR) under /tmp, written for /usr/bin/python3, which
the unprivileged check user can run (the test virtualenv's Python lives under /root).
The tests run as root, so the checker drops to `nobody` for every program here."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitoring.checks import CheckSpec

SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass
class ProgramDir:
    path: Path  # the allowed directory
    scratch: Path  # where programs may write what the tests read back (1777)
    base: Path

    def install(self, name: str, body: str, interpreter: str = SYSTEM_PYTHON, mode: int = 0o755) -> Path:
        program = self.path / name
        program.write_text(f"#!{interpreter}\n{body}")
        program.chmod(mode)
        return program

    def spec(self, command: str, **fields) -> CheckSpec:
        fields.setdefault("timeout", 5)
        return CheckSpec("program", send_program=command, host=fields.pop("host", "127.0.0.1"),
                         port=fields.pop("port", 443), program_dir=str(self.path), **fields)

    def private_dir(self, name: str) -> Path:
        """A 0700 directory like the data dir, for files the program must not reach."""
        folder = self.base / name
        folder.mkdir(mode=0o700)
        folder.chmod(0o700)
        return folder


@pytest.fixture
def program_dir():
    base = Path(tempfile.mkdtemp(prefix="lbadmin-checks-", dir="/tmp"))
    base.chmod(0o755)
    checks, scratch = base / "checks", base / "scratch"
    checks.mkdir()
    checks.chmod(0o755)
    scratch.mkdir()
    scratch.chmod(0o1777)
    yield ProgramDir(checks, scratch, base)
    shutil.rmtree(base)
