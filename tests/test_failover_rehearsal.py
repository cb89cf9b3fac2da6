"""The failover rehearsal without a lab: its arithmetic, its refusals, and a whole run
against stand-in directors that answer the director scripts as keepalived would."""
import datetime

import pytest
from django.utils import timezone

from lbadmin.models import AuditEntry, FailoverRehearsal, RedundancyGroup
from tests import factories
from virtualservers import failover_rehearsal as fr
from virtualservers import ipvs
from virtualservers.formats.vrrp import NotifyLine
from virtualservers.ipvs.scripts import START_KEEPALIVED, STOP_KEEPALIVED, VRRP_STATUS
from virtualservers.tasks import rehearse_due


def line(at, state):
    return NotifyLine(at, "INSTANCE", "lbadmin_edge_v4", state, 150)


# --- arithmetic ---------------------------------------------------------------------------

def test_the_takeover_runs_from_the_old_masters_stop_line_to_the_new_masters_master_line():
    old = [line(90.0, "MASTER"), line(100.06, "STOP")]
    new = [line(80.0, "BACKUP"), line(85.0, "MASTER"), line(86.0, "BACKUP"), line(100.12, "MASTER")]
    released = fr.released_at(old, sigterm=100.0, stopped=101.1)
    became = fr.master_at(new, since=100.0)
    assert (released, became) == (100.06, 100.12)  # the MASTER at 85 was an older takeover
    assert fr.takeover_seconds(released, became) == pytest.approx(0.06)


def test_without_a_stop_line_the_sigterm_is_the_release():
    assert fr.released_at([line(90.0, "MASTER")], sigterm=100.0, stopped=101.0) == 100.0


def test_a_master_line_before_the_old_hook_ran_is_no_gap_not_a_negative_one():
    assert fr.takeover_seconds(100.3, 100.1) == 0.0


def test_the_script_stamps_are_read_by_their_word():
    out = "sigterm 1796159657.356354916\nstopped 1796159658.440063012\n"
    assert fr.stamp(out, "sigterm") == pytest.approx(1796159657.356354916)
    assert fr.stamp(out, "stopped") == pytest.approx(1796159658.440063012)
    assert fr.stamp("not running\n", "sigterm") is None
    assert fr.stamp("already running 12.5\n", "already running") == 12.5


def test_the_probe_outage_is_the_longest_run_of_failures_between_good_connects():
    at = [0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35]
    ok = [True, True, False, False, False, True, False, True]
    figures = fr.probe_figures([fr.Attempt(t, o) for t, o in zip(at, ok)])
    assert figures.outage_seconds == pytest.approx(0.20)  # 0.05 -> 0.25
    assert figures.summary == "8 connects every 50 ms, 4 failed; longest outage 0.200 s"


def test_a_probe_that_never_failed_shows_no_outage_and_one_that_never_recovered_says_so():
    clean = fr.probe_figures([fr.Attempt(t / 20, True) for t in range(5)])
    assert clean.outage_seconds == 0.0 and clean.summary == "5 connects every 50 ms, 0 failed"
    broken = fr.probe_figures([fr.Attempt(0.0, True), fr.Attempt(0.05, False), fr.Attempt(0.1, False)])
    assert broken.outage_seconds == pytest.approx(0.1) and "not over when the probe stopped" in broken.summary


@pytest.mark.django_db
def test_the_next_due_date_follows_the_last_rehearsal():
    group = RedundancyGroup.objects.create(name="edge", rehearse_every_days=7)
    last = timezone.now() - datetime.timedelta(days=2)
    assert fr.next_due(group, last) == last + datetime.timedelta(days=7)
    assert fr.next_due(group, None) <= timezone.now()
    group.rehearse_every_days = 0
    assert fr.next_due(group, last) is None


# --- refusals -----------------------------------------------------------------------------

@pytest.fixture
def pair(db, tmp_path):
    group = RedundancyGroup.objects.create(name="edge", virtual_router_id=51, interface="eth0", advert_interval="0.1")
    primary = factories.director("lb1", group=group, priority=150)
    backup = factories.director("lb2", group=group, priority=100)
    return group, primary, backup


@pytest.mark.django_db
def test_it_refuses_a_group_with_fewer_than_two_enabled_members(pair):
    group, primary, backup = pair
    backup.enabled = False
    backup.save()
    with pytest.raises(fr.RehearsalRefused, match="1 enabled director"):
        fr.request_rehearsal(group)
    assert not FailoverRehearsal.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_second_rehearsal_while_one_is_under_way(pair):
    group = pair[0]
    first = fr.request_rehearsal(group)
    with pytest.raises(fr.RehearsalRefused, match="already under way"):
        fr.request_rehearsal(group)
    FailoverRehearsal.objects.filter(pk=first.pk).update(result="ok")
    assert fr.request_rehearsal(group).result == "pending"


@pytest.mark.django_db
def test_a_rehearsal_whose_worker_was_lost_ends_as_failed_and_frees_the_group(pair):
    group = pair[0]
    lost = fr.request_rehearsal(group)
    FailoverRehearsal.objects.filter(pk=lost.pk).update(
        result="running", from_director="lb1", requested_at=timezone.now() - datetime.timedelta(hours=1))
    fr.request_rehearsal(group)
    lost.refresh_from_db()
    assert lost.result == "failed" and "keepalived may still be stopped on lb1" in lost.error


@pytest.mark.django_db
def test_a_duplicate_delivery_does_nothing(pair):
    rehearsal = fr.request_rehearsal(pair[0])
    FailoverRehearsal.objects.filter(pk=rehearsal.pk).update(result="running")
    assert fr.run_rehearsal(rehearsal.pk) is None


# --- a whole run against stand-in directors -------------------------------------------------

class Keepalived:
    """A director as the scripts see it: keepalived running or not, its notify log, the
    kernel's connection count. The group's shared state lives in `world`."""

    def __init__(self, world, name, priority, connections=0):
        self.world, self.name, self.priority = world, name, priority
        self.running, self.lines, self.connections = True, [], connections
        self.calls = []

    def log(self, state):
        self.world["clock"] += 0.05
        self.lines.append(f"{self.world['clock']:.6f} INSTANCE lbadmin_edge_v4 {state} {self.priority}")

    def run_script(self, script, args=(), stdin=None):
        self.calls.append(script.name)
        world = self.world
        if script is VRRP_STATUS:
            head = "keepalived running 42" if self.running else "keepalived stopped"
            text = f"{head}\n--- transitions\n" + "\n".join(self.lines) + f"\n--- connections\n{self.connections}\n"
            return ipvs.RunResult([], 0, text, "", 0.0)
        if script is STOP_KEEPALIVED:
            if world.get("stop_fails"):
                raise ipvs.CommandFailed(["stop keepalived"], 4, "keepalived (pid 42) still runs 5 s after SIGTERM")
            world["clock"] += 0.01
            sigterm = world["clock"]
            self.log("STOP")
            self.running = False
            if not world.get("nobody_takes_over"):
                for peer in world["directors"].values():
                    if peer is not self and peer.running:
                        peer.log("MASTER")
                        peer.connections = world.get("after", peer.connections)
                        break
            return ipvs.RunResult([], 0, f"sigterm {sigterm:.6f}\nstopped {world['clock'] + 0.5:.6f}\n", "", 0.0)
        if script is START_KEEPALIVED:
            world["clock"] += 0.01
            started = world["clock"]
            self.running = True
            self.log("BACKUP")
            return ipvs.RunResult([], 0, f"started {started:.6f}\n", "", 0.0)
        raise AssertionError(script)


@pytest.fixture
def stand_ins(pair, monkeypatch):
    group, primary, backup = pair
    world = {"clock": 1000.0}
    a, b = Keepalived(world, "lb1", 150), Keepalived(world, "lb2", 100, connections=7)
    a.log("MASTER")
    b.log("BACKUP")
    world["directors"] = {primary.pk: a, backup.pk: b}
    monkeypatch.setattr(fr, "executor_for", lambda director: world["directors"][director.pk])
    monkeypatch.setattr(fr, "POLL_INTERVAL", 0.01)
    monkeypatch.setattr(fr, "RETURN_GRACE", 0.2)
    monkeypatch.setattr(fr, "PROBE_TAIL", 0.1)
    factories.virtual_server(address="192.0.2.50", port=443, active=True)
    return group, world, a, b


@pytest.mark.django_db
def test_it_fails_the_group_over_measures_restarts_and_audits(stand_ins, admin_user):
    group, world, a, b = stand_ins
    world["after"] = 9
    rehearsal = fr.request_rehearsal(group, user=admin_user)
    done = fr.run_rehearsal(rehearsal.pk, connect=lambda address, port: False)
    assert done.result == "ok", done.error
    assert (done.from_director, done.to_director) == ("lb1", "lb2")
    assert done.takeover_seconds == pytest.approx(0.05)  # STOP line -> MASTER line
    assert (done.connections_before, done.connections_after) == (7, 9)
    assert done.probe_outage_seconds is None
    assert done.probe_summary == "no probe: 192.0.2.50:443 does not answer from the lbadmin host"
    assert a.running and a.calls[-2:] == ["start keepalived", "read VRRP status"]
    assert done.old_master_return == "lb1 returned as BACKUP (nopreempt): the VIPs stay where they are"
    entry = AuditEntry.objects.get(action="rehearsal")
    assert entry.object_type == "RedundancyGroup" and entry.object_repr == "edge"
    assert entry.username == admin_user.username and entry.user_id == admin_user.pk
    assert "lb1 -> lb2" in entry.message and "takeover 0.050 s" in entry.message


@pytest.mark.django_db
def test_a_probe_that_answers_is_measured_through_the_failover(stand_ins):
    group, world, a, b = stand_ins
    rehearsal = fr.request_rehearsal(group)
    done = fr.run_rehearsal(rehearsal.pk, connect=lambda address, port: a.running or b.lines[-1].endswith("MASTER 100"))
    assert done.result == "ok", done.error
    assert done.probe_outage_seconds is not None and "connects every 50 ms" in done.probe_summary


@pytest.mark.django_db
def test_when_nobody_takes_over_it_fails_visibly_and_still_restarts_keepalived(stand_ins, monkeypatch):
    group, world, a, b = stand_ins
    world["nobody_takes_over"] = True
    monkeypatch.setattr(fr, "TAKEOVER_TIMEOUT", 0.1)
    done = fr.run_rehearsal(fr.request_rehearsal(group).pk, connect=lambda address, port: False)
    assert done.result == "failed" and "no other member became MASTER within 0.1 s" in done.error
    assert a.running and "start keepalived" in a.calls
    assert AuditEntry.objects.get(action="rehearsal").message.startswith("failover rehearsal (manual): failed:")


@pytest.mark.django_db
def test_a_stop_that_fails_is_reported_and_keepalived_is_started_anyway(stand_ins):
    group, world, a, b = stand_ins
    world["stop_fails"] = True
    done = fr.run_rehearsal(fr.request_rehearsal(group).pk, connect=lambda address, port: False)
    assert done.result == "failed" and "still runs 5 s after SIGTERM" in done.error
    assert a.calls.count("start keepalived") == 1


@pytest.mark.django_db
def test_without_a_master_nothing_is_stopped(stand_ins):
    group, world, a, b = stand_ins
    a.log("BACKUP")
    done = fr.run_rehearsal(fr.request_rehearsal(group).pk, connect=lambda address, port: False)
    assert done.result == "failed" and "no member reports MASTER (lb1 BACKUP, lb2 BACKUP)" in done.error
    assert "stop keepalived" not in a.calls + b.calls and "start keepalived" not in a.calls


@pytest.mark.django_db
def test_an_unexpected_exception_ends_as_a_failed_rehearsal(stand_ins, monkeypatch):
    group, world, a, b = stand_ins
    monkeypatch.setattr(fr, "wait_for_new_master", lambda others, since: 1 / 0)
    done = fr.run_rehearsal(fr.request_rehearsal(group).pk, connect=lambda address, port: False)
    assert done.result == "failed" and "ZeroDivisionError" in done.error and a.running


@pytest.mark.django_db
def test_the_schedule_starts_a_rehearsal_when_the_last_is_older_than_its_period(stand_ins, monkeypatch):
    group = stand_ins[0]
    sent = []
    monkeypatch.setattr("virtualservers.tasks.rehearse_failover.delay", sent.append)
    rehearse_due()
    assert not FailoverRehearsal.objects.exists()  # 0 = never
    RedundancyGroup.objects.filter(pk=group.pk).update(rehearse_every_days=7)
    old = FailoverRehearsal.objects.create(group=group, result="ok",
                                           requested_at=timezone.now() - datetime.timedelta(days=3))
    rehearse_due()
    assert FailoverRehearsal.objects.count() == 1
    FailoverRehearsal.objects.filter(pk=old.pk).update(requested_at=timezone.now() - datetime.timedelta(days=8))
    rehearse_due()
    new = FailoverRehearsal.objects.exclude(pk=old.pk).get()
    assert new.trigger == "schedule" and new.requested_by_name == "schedule" and new.result == "pending"
