"""`manage.py lab up`, the documented way to try lbadmin against a real IPVS
kernel: it boots the VM, registers it as a director with its host key
pinned, and stops the VM on Ctrl-C/SIGTERM."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.lab


def test_lab_up_boots_registers_and_stops(tmp_path, redis_url):
    env = {**os.environ, "LBADMIN_DATA_DIR": str(tmp_path), "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    proc = subprocess.Popen([*manage, "lab", "up", "--name", "labcmd"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "is up" in line:
                break
        assert any("is up" in line for line in lines), "".join(lines)
        assert any("[3/3] registered director 'labcmd'" in line and "SHA256:" in line for line in lines), "".join(lines)
        shown = subprocess.run([*manage, "reconcile", "--dry-run", "--director", "labcmd"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "# labcmd: 0 command(s) (dry run, nothing changed)" in shown.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert "Lab VM stopped." in rest
