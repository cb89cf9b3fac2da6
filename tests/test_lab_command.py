"""`manage.py lab up`, the documented way to try lbadmin against a real IPVS
kernel: it boots the VM, registers it as a director with its host key
pinned, prints how to ssh in, publishes the VM so `python -m lab status` and
`manage.py lab status` see it, runs one command in it with `manage.py lab ssh -- CMD`,
and stops the VM on Ctrl-C/SIGTERM."""
import json
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
        ssh_line = next(line.strip() for line in lines if line.strip().startswith("ssh -i "))
        assert "-o HostKeyAlias=lbadmin-lab" in ssh_line and ssh_line.endswith("root@127.0.0.1")
        status = subprocess.run([sys.executable, "-m", "lab", "status", "--name", "labcmd"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"-p {json.loads(status.stdout)['ssh_port']} " in ssh_line
        assert any("python manage.py lab ssh --name labcmd -- ipvsadm -S -n" in line for line in lines)
        shown = subprocess.run([*manage, "lab", "status", "--name", "labcmd"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == "labcmd", shown.stderr
        # one command in the guest, through the pinned host key; its output and exit code
        ran = subprocess.run([*manage, "lab", "ssh", "--name", "labcmd", "--", "ipvsadm", "-L", "-n"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        assert "IP Virtual Server version" in ran.stdout
        failed = subprocess.run([*manage, "lab", "ssh", "--name", "labcmd", "--", "sh", "-c", "exit 7"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=120)
        assert failed.returncode == 7, failed.stderr
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert "Lab VM stopped." in rest
    gone = subprocess.run([sys.executable, "-m", "lab", "status", "--name", "labcmd"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and "labcmd is not up" in gone.stderr
