"""`lab status` tells the truth and `manage.py lab ssh -- CMD` runs one command in the
guest, through the published OpenSSH command line (host key pinned), as an argv list.
These use a published description of a stand-in process; tests/test_lab_command.py does
the same against the real VM."""
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from lab import layout, state
from lab.__main__ import status as lab_status


@pytest.fixture
def lab_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "LAB_DIR", tmp_path)
    return tmp_path


def publish(lab_dir, name: str, *, qemu_pid: int | None = None, ssh_command=None) -> dict:
    me = os.getpid()
    qemu_pid = qemu_pid or me
    description = {"name": name, "pid": me, "pid_start_time": state.start_time(me), "qemu_pid": qemu_pid,
                   "qemu_start_time": state.start_time(qemu_pid) or "gone",
                   "ssh_command": ssh_command or ["ssh", "-p", "2222", "root@127.0.0.1"]}
    (lab_dir / f"{name}.up.json").write_text(json.dumps(description))
    return description


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_status_shows_a_vm_whose_processes_run(lab_dir, capsys):
    publish(lab_dir, "lab")
    call_command("lab", "status")
    assert json.loads(capsys.readouterr().out)["name"] == "lab"


def test_status_says_not_up_when_the_qemu_is_gone_under_a_live_up(lab_dir, capsys):
    publish(lab_dir, "lab", qemu_pid=dead_pid())
    with pytest.raises(CommandError, match=f"lab is not up in {lab_dir}"):
        call_command("lab", "status")
    assert lab_status("lab") == 1
    assert f"lab is not up in {lab_dir}" in capsys.readouterr().err


def test_status_of_a_name_not_up_names_the_ones_that_are(lab_dir):
    publish(lab_dir, "labcmd")
    with pytest.raises(CommandError, match=r"lab is not up in .*; up there: labcmd \(--name\)"):
        call_command("lab", "status")


def test_ssh_runs_one_command_through_the_published_command_line(lab_dir, capfd):
    # A stand-in for ssh that prints the words it got, then exits 3.
    echo = [sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(3)"]
    publish(lab_dir, "lab", ssh_command=echo)
    with pytest.raises(SystemExit) as exited:
        call_command("lab", "ssh", "--", "ipvsadm", "-S", "-n", "; reboot")
    assert exited.value.code == 3
    # one word for the guest's shell, each part quoted: "; reboot" stays an argument
    assert capfd.readouterr().out.strip() == repr(["ipvsadm -S -n '; reboot'"])


def test_the_published_ssh_command_pins_the_host_key():
    class VM:
        key_path, ssh_port, ssh_user, ssh_host = "/k", 2222, "root", "127.0.0.1"
    argv = state.ssh_command(VM())
    assert "StrictHostKeyChecking=yes" in argv and f"UserKnownHostsFile={layout.KNOWN_HOSTS}" in argv
    assert "StrictHostKeyChecking=no" not in " ".join(argv)
    assert state.ssh_argv({"ssh_command": argv}, ["ipvsadm", "-L", "-n"])[-1] == "ipvsadm -L -n"


def test_ssh_refuses_when_the_lab_is_not_up(lab_dir):
    with pytest.raises(CommandError, match="lab is not up"):
        call_command("lab", "ssh", "--", "true")


def test_ssh_takes_options_before_the_dashes_from_the_command_line(lab_dir, capfd):
    from lbadmin.management.commands.lab import Command
    echo = [sys.executable, "-c", "import sys; print(sys.argv[1:])"]
    publish(lab_dir, "labcmd", ssh_command=echo)
    Command().run_from_argv(["manage.py", "lab", "ssh", "--name", "labcmd", "--", "ipvsadm", "-L", "-n"])
    assert capfd.readouterr().out.strip() == repr(["ipvsadm -L -n"])
