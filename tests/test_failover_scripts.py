"""The director scripts of a failover rehearsal (stop keepalived gracefully, start it
again), run on this host through LocalExecutor with a stand-in keepalived that daemonizes
like the real one, writes its pid file, and answers SIGTERM as it pleases."""
import os
import signal
import stat
import time

import pytest

from virtualservers import ipvs
from virtualservers.ipvs.scripts import SCRIPTS, START_KEEPALIVED, STOP_KEEPALIVED

# -f CONF -p PIDFILE: daemonizes, writes its pid; on SIGTERM logs STOP after a short while
# (as keepalived's goodbye advert and notify take a moment) and exits. With a conf that
# holds "stubborn", it ignores SIGTERM.
STAND_IN = """#!/bin/sh
conf=$2 pidfile=$4
log="$(dirname "$0")/calls"
echo "$*" >> "$log"
# The child writes the pid file once its TERM trap is set, as keepalived writes it once
# its handlers are in place: a SIGTERM sent before that would kill it unlogged.
if grep -q stubborn "$conf"; then
    nohup sh -c 'trap "" TERM; echo $$ > "$1"; while :; do sleep 0.1; done' sh "$pidfile" >/dev/null 2>&1 &
else
    nohup sh -c 'trap "sleep 0.3; echo STOP >> $0; exit 0" TERM; echo $$ > "$1"; while :; do sleep 0.1; done' \
        "$log" "$pidfile" >/dev/null 2>&1 &
fi
while [ ! -s "$pidfile" ]; do sleep 0.02; done
"""


@pytest.fixture
def keepalived(tmp_path):
    program = tmp_path / "keepalived"
    program.write_text(STAND_IN)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    conf = tmp_path / "keepalived.conf"
    conf.write_text("vrrp_instance x {}\n")
    pidfile = tmp_path / "run" / "keepalived.pid"
    yield program, conf, pidfile
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def running(pidfile) -> bool:
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    return True


def stamp(line: str, word: str) -> float:
    head, value = line.rsplit(" ", 1)
    assert head == word, line
    return float(value)


def test_both_scripts_are_on_the_allow_list():
    assert STOP_KEEPALIVED in SCRIPTS and START_KEEPALIVED in SCRIPTS


def test_it_starts_keepalived_once_and_says_when(keepalived):
    program, conf, pidfile = keepalived
    executor = ipvs.LocalExecutor()
    before = time.time()
    out = executor.run_script(START_KEEPALIVED, [str(conf), str(pidfile), str(program)]).stdout.strip()
    assert before - 1 < stamp(out, "started") < time.time() + 1
    assert running(pidfile)
    again = executor.run_script(START_KEEPALIVED, [str(conf), str(pidfile), str(program)]).stdout.strip()
    assert again.startswith("already running ")
    assert (program.parent / "calls").read_text().count("-f") == 1


def test_it_stops_keepalived_gracefully_and_waits_until_it_is_gone(keepalived):
    program, conf, pidfile = keepalived
    executor = ipvs.LocalExecutor()
    executor.run_script(START_KEEPALIVED, [str(conf), str(pidfile), str(program)])
    pid = int(pidfile.read_text())
    sigterm, stopped = executor.run_script(STOP_KEEPALIVED, [str(pidfile), "5"]).stdout.split("\n")[:2]
    assert stamp(stopped, "stopped") - stamp(sigterm, "sigterm") >= 0.3  # it waited for the goodbye
    assert "STOP" in (program.parent / "calls").read_text()  # SIGTERM, not SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_stopping_a_stopped_keepalived_is_not_an_error(keepalived):
    _, _, pidfile = keepalived
    assert ipvs.LocalExecutor().run_script(STOP_KEEPALIVED, [str(pidfile), "5"]).stdout.strip() == "not running"


def test_a_keepalived_that_ignores_sigterm_is_reported_and_left_running(keepalived):
    program, conf, pidfile = keepalived
    conf.write_text("stubborn\n")
    executor = ipvs.LocalExecutor()
    executor.run_script(START_KEEPALIVED, [str(conf), str(pidfile), str(program)])
    with pytest.raises(ipvs.CommandFailed) as refused:
        executor.run_script(STOP_KEEPALIVED, [str(pidfile), "1"])
    assert "still runs 1 s after SIGTERM" in str(refused.value)
    assert running(pidfile)
