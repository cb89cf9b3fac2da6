"""LocalExecutor against a real program: a fake ipvsadm written into tmp_path.

The fake answers with ipvsadm 1.31's own texts and exit codes. It proves the executor
(argv handling, stdin, timeout, error mapping); the lab VM proves the real ipvsadm.
"""

import json
import os
import time

import pytest

from virtualservers.ipvs import (
    CommandFailed, CommandTimeout, IpvsadmMissing, LocalExecutor, NoKernelSupport, NotRoot,
    Table, parse_save, plan, render,
)
from virtualservers.ipvs.executors import Executor

from .test_ipvs_parse import EXPECTED, LIST, SAVE, STATS
from .test_ipvs_support import FakeIpvsadm


@pytest.fixture
def fake(tmp_path):
    return FakeIpvsadm.create(tmp_path, save=SAVE, list={"-n --exact": LIST,
                                                         "-n --exact --stats": STATS})


def test_it_reads_the_table_with_save(fake):
    executor = LocalExecutor(str(fake.path))
    assert parse_save(executor.save()) == EXPECTED
    assert fake.calls()[-1]["argv"][1:] == ["-S", "-n"]


def test_it_lists_with_exact_counters(fake):
    executor = LocalExecutor(str(fake.path))
    assert executor.list_text() == LIST
    assert executor.list_text("stats") == STATS
    assert [c["argv"][1:] for c in fake.calls()] == [["-L", "-n", "--exact"],
                                                     ["-L", "-n", "--exact", "--stats"]]
    with pytest.raises(ValueError, match="kind"):
        executor.list_text("everything")


def test_it_feeds_the_restore_batch_through_stdin(fake):
    commands = plan(Table(), EXPECTED)
    result = LocalExecutor(str(fake.path)).restore(commands)
    assert result.returncode == 0
    call = fake.calls()[-1]
    assert call["argv"][1:] == ["-R"]
    assert call["stdin"] == "".join(c.line + "\n" for c in commands)


def test_it_skips_an_empty_restore(fake):
    assert LocalExecutor(str(fake.path)).restore([]) is None
    assert fake.calls() == []


def test_it_finds_ipvsadm_on_the_path(fake, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake.path.parent}{os.pathsep}{os.environ['PATH']}")
    assert LocalExecutor("ipvsadm").save() == SAVE


def test_it_says_when_ipvsadm_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(IpvsadmMissing, match="install the ipvsadm package"):
        LocalExecutor("ipvsadm").save()
    with pytest.raises(IpvsadmMissing):
        LocalExecutor(str(tmp_path / "nowhere" / "ipvsadm")).save()


def test_it_says_when_the_file_is_not_executable(tmp_path):
    plain = tmp_path / "ipvsadm"
    plain.write_text("not a program")
    with pytest.raises(IpvsadmMissing):
        LocalExecutor(str(plain)).save()


def test_it_explains_a_kernel_without_ipvs(fake):
    fake.configure(mode="nokernel")
    with pytest.raises(NoKernelSupport) as caught:
        LocalExecutor(str(fake.path)).save()
    assert "modprobe ip_vs" in str(caught.value)
    assert "Can't initialize ipvs: Protocol not available" in str(caught.value)


def test_it_explains_a_run_without_root(fake):
    fake.configure(mode="notroot")
    with pytest.raises(NotRoot, match="must run as root"):
        LocalExecutor(str(fake.path)).save()


def test_it_reports_a_refused_command_with_status_and_message(fake):
    fake.configure(mode="fail", stderr="Service already exists\n", rc=255)
    with pytest.raises(CommandFailed) as caught:
        LocalExecutor(str(fake.path)).run(["ipvsadm", "-A", "-t", "192.0.2.1:80", "-s", "wlc"])
    assert caught.value.returncode == 255
    assert caught.value.stderr == "Service already exists\n"
    assert "Service already exists" in str(caught.value)


def test_it_fails_a_restore_that_reported_errors_even_with_status_zero(fake):
    # ipvsadm -R goes on after a refused line and exits with the last line's status.
    fake.configure(restore_stderr="Destination already exists\n", restore_rc=0)
    with pytest.raises(CommandFailed, match="Destination already exists"):
        LocalExecutor(str(fake.path)).restore(["-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1"])


def test_it_kills_ipvsadm_after_the_timeout(fake):
    fake.configure(mode="sleep", seconds=30)
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="did not finish within 0.5 s"):
        LocalExecutor(str(fake.path), timeout=0.5).save()
    assert time.monotonic() - started < 10


def test_it_only_runs_ipvsadm(fake):
    executor = LocalExecutor(str(fake.path))
    with pytest.raises(ValueError, match="only runs ipvsadm"):
        executor.run(["sh", "-c", "true"])


def test_it_passes_every_argument_as_one_argv_item_without_a_shell(fake):
    fake.configure(mode="echo")
    hostile = ["-A", "-t", "a b; touch pwned", "$(touch pwned)", "`id`", "'", "\"", ">x"]
    result = LocalExecutor(str(fake.path)).run(["ipvsadm", *hostile])
    assert json.loads(result.stdout)[1:] == hostile
    assert not (fake.path.parent / "pwned").exists()


def test_it_satisfies_the_executor_protocol(fake):
    assert isinstance(LocalExecutor(str(fake.path)), Executor)


def test_it_round_trips_a_rendered_table(fake):
    fake.configure(save=render(EXPECTED))
    with LocalExecutor(str(fake.path)) as executor:
        assert parse_save(executor.save()) == EXPECTED


def test_several_listings_take_one_run_and_come_back_apart(fake):
    executor = LocalExecutor(str(fake.path))
    assert executor.list_texts(["list", "stats"]) == {"list": LIST, "stats": STATS}
    assert [c["argv"][1:] for c in fake.calls()] == [["-L", "-n", "--exact"],
                                                     ["-L", "-n", "--exact", "--stats"]]


def test_a_listing_word_reaches_ipvsadm_as_one_word_and_whitespace_is_refused(fake):
    executor = LocalExecutor(str(fake.path))
    executor.listings([["-L", "$(reboot)`id`;reboot", "[2001:db8::1]:80", "*"]])
    assert fake.calls()[-1]["argv"][1:] == ["-L", "$(reboot)`id`;reboot", "[2001:db8::1]:80", "*"]
    with pytest.raises(ValueError, match="whitespace"):
        executor.listings([["-L", "-n; reboot"]])


def test_a_service_the_kernel_does_not_hold_is_left_out_of_a_targeted_read(tmp_path):
    from virtualservers.ipvs import ServiceKey

    fake = FakeIpvsadm.create(tmp_path, mode="fail", stderr="No such service\n", rc=1)
    executor = LocalExecutor(str(fake.path))
    assert executor.read_services([ServiceKey("tcp", "192.0.2.1", 80)]) == Table()
    assert fake.calls()[-1]["argv"][1:] == ["-L", "-n", "--exact", "-t", "192.0.2.1:80"]


def test_any_other_failure_of_a_targeted_read_is_raised(tmp_path):
    from virtualservers.ipvs import ServiceKey

    fake = FakeIpvsadm.create(tmp_path, mode="notroot")
    with pytest.raises(NotRoot):
        LocalExecutor(str(fake.path)).read_services([ServiceKey("tcp", "192.0.2.1", 80)])
