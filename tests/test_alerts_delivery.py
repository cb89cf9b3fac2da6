"""Alerts from event to message, against real receivers: a webhook server in a thread
(signature checked with an independent HMAC), aiosmtpd for mail; grouping, filters,
backoff and the events the lower layers report."""
import datetime
import hashlib
import hmac
import json
import time

import pytest
from django.utils import timezone

from lbadmin import signals
from lbadmin.models import Director
from monitoring import alerts_delivery, alerts_events
from monitoring.health_counter import LAST_RESULT_KEY
from monitoring.models import AlertDelivery, AlertDestination, AlertEvent
from monitoring.transitions import write_transition
from monitoring.vrrp_poller import record_transitions
from tests import factories
from tests.alert_receivers import smtp_server, webhook_receiver
from virtualservers.formats.vrrp import NotifyLine, VrrpStatus
from virtualservers.models import ApplyRun

SECRET = "s3cret-for-the-receiver-only"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_window(settings):
    settings.ALERT_WINDOW = 30


@pytest.fixture
def web(db):
    vs = factories.virtual_server("web", active=True)
    return vs, factories.real_server(vs, "CAS1", "192.0.2.21")


def webhook(url, events=("health",), **fields):
    return AlertDestination.objects.create(name=fields.pop("name", "hook"), kind="webhook", url=url, secret=SECRET,
                                           events=list(events), **fields)


def deliver_all(now=None) -> list[AlertDelivery]:
    """Route, then send everything due once the window has passed."""
    now = now or timezone.now()
    alerts_delivery.route(now)
    later = now + datetime.timedelta(seconds=31)
    return [alerts_delivery.attempt(pk, later) for pk in alerts_delivery.claim_due(later)]


def posted_down_transition(rs):
    """The one POST a webhook receives for `rs` going down."""
    with webhook_receiver() as receiver:
        webhook(receiver.url)
        write_transition(rs.pk, "down", "refused", None)
        deliver_all()
    return receiver.posts[0]


def test_a_health_transition_reaches_a_webhook_signed_with_the_destinations_secret(web):
    vs, rs = web
    with webhook_receiver() as receiver:
        webhook(receiver.url)
        assert write_transition(rs.pk, "down", "connection refused", None)
        [delivery] = deliver_all()
    assert delivery.status == AlertDelivery.Status.SENT and delivery.attempts == 1
    [post] = receiver.posts
    timestamp = post.headers["x-lbadmin-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-lbadmin-signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 600
    body = post.json()
    assert (body["event"], body["virtual_server"], body["real_server"]) == ("health", "web", "CAS1")
    assert (body["old_state"], body["new_state"], body["reason"]) == ("unknown", "down", "connection refused")
    assert body["count"] == 1 and len(body["events"]) == 1 and body["test"] is False


def test_a_signature_made_with_another_secret_does_not_match(web):
    vs, rs = web
    post = posted_down_transition(rs)
    forged = hmac.new(b"another-secret-entirely", post.headers["x-lbadmin-timestamp"].encode() + b"." + post.body,
                      hashlib.sha256).hexdigest()
    assert post.headers["x-lbadmin-signature"] != f"sha256={forged}"


def test_a_failing_receiver_is_tried_again_after_the_backoff_and_then_gets_it(web):
    vs, rs = web
    now = timezone.now()
    with webhook_receiver(fail_first=2) as receiver:
        webhook(receiver.url)
        write_transition(rs.pk, "down", "refused", None)
        [first] = deliver_all(now)
        assert first.status == AlertDelivery.Status.PENDING and "HTTP 500" in first.last_error
        tried = first.last_attempt_at
        assert first.due_at == tried + datetime.timedelta(seconds=alerts_delivery.BACKOFF[0])
        assert alerts_delivery.claim_due(tried + datetime.timedelta(seconds=5)) == []
        [pk] = alerts_delivery.claim_due(first.due_at)
        second = alerts_delivery.attempt(pk, first.due_at)
        assert second.due_at == first.due_at + datetime.timedelta(seconds=alerts_delivery.BACKOFF[1])
        [pk] = alerts_delivery.claim_due(second.due_at)
        third = alerts_delivery.attempt(pk, second.due_at)
    assert third.status == AlertDelivery.Status.SENT and third.attempts == 3 and third.last_error == ""
    assert len(receiver.posts) == 1 and receiver.seen == 3
    assert third.log.count("failed: SendError: HTTP 500") == 2 and "attempt 3: HTTP 200" in third.log


def test_after_the_last_attempt_a_message_is_failed_with_the_reason(web):
    vs, rs = web
    with webhook_receiver(fail_first=100) as receiver:
        webhook(receiver.url)
        write_transition(rs.pk, "down", "refused", None)
        [delivery] = deliver_all()
        while delivery.status == AlertDelivery.Status.PENDING:
            [pk] = alerts_delivery.claim_due(delivery.due_at)
            delivery = alerts_delivery.attempt(pk, delivery.due_at)
    assert delivery.status == AlertDelivery.Status.FAILED
    assert delivery.attempts == len(alerts_delivery.BACKOFF) + 1 == receiver.seen
    assert "no more attempts" in delivery.log
    assert alerts_delivery.claim_due(delivery.due_at + datetime.timedelta(days=1)) == []


def test_an_unreachable_webhook_says_why(web):
    vs, rs = web
    with webhook_receiver() as receiver:
        url = receiver.url  # closed once the block ends
    webhook(url)
    write_transition(rs.pk, "down", "refused", None)
    [delivery] = deliver_all()
    assert delivery.status == AlertDelivery.Status.PENDING and "cannot connect" in delivery.last_error


def test_mail_reaches_a_real_smtp_server_with_the_transition(web, settings):
    vs, rs = web
    with smtp_server() as (port, mails):
        settings.ALERT_SMTP = {**settings.ALERT_SMTP, "host": "127.0.0.1", "port": port, "security": "none",
                               "from": "lbadmin@example.net"}
        AlertDestination.objects.create(name="ops", kind="email", to_addresses="a@example.net,\nb@example.net",
                                        events=["health"])
        write_transition(rs.pk, "down", "connection refused", None)
        [delivery] = deliver_all()
        assert delivery.status == AlertDelivery.Status.SENT, delivery.last_error
    [mail] = mails
    assert sorted(mail.rcpt_tos) == ["a@example.net", "b@example.net"] and mail.mail_from == "lbadmin@example.net"
    text = mail.content.decode()
    assert "Subject: [lbadmin] web/CAS1: unknown -> down (connection refused)" in text
    assert "health  web/CAS1 unknown -> down  (connection refused)" in text


def test_twenty_transitions_of_a_flapping_server_are_one_message(web):
    vs, rs = web
    start = time.time()
    with webhook_receiver() as receiver:
        webhook(receiver.url)
        for i in range(20):
            write_transition(rs.pk, "down" if i % 2 == 0 else "up", f"flap {i}", None, at=start + i)
        deliveries = deliver_all()
    assert len(deliveries) == 1 and len(receiver.posts) == 1
    body = receiver.posts[0].json()
    assert body["event"] == "grouped" and body["count"] == 20 and len(body["events"]) == 20
    assert body["summary"].startswith("web/CAS1 flapped 20 times in 19 s: unknown -> down -> up")
    assert "now up (flap 19)" in body["summary"]


def test_a_message_lists_at_most_its_cap_and_counts_the_rest(web):
    vs, rs = web
    from monitoring.alerts_messages import MAX_ITEMS

    with webhook_receiver() as receiver:
        webhook(receiver.url)
        for i in range(MAX_ITEMS + 7):
            alerts_events.record(alerts_events.HEALTH, virtual_server=vs, real_server=rs.name, old_state="up",
                                 new_state="down", reason=f"flap {i}")
        deliver_all()
    body = receiver.posts[0].json()
    assert (body["count"], len(body["events"]), body["omitted"]) == (MAX_ITEMS + 7, MAX_ITEMS, 7)


def test_events_after_the_window_are_a_second_message(web):
    vs, rs = web
    now = timezone.now()
    webhook("http://127.0.0.1:9/unused")
    write_transition(rs.pk, "down", "refused", None)
    alerts_delivery.route(now)
    write_transition(rs.pk, "up", "ok", None)
    alerts_delivery.route(now + datetime.timedelta(seconds=40))
    assert [d.events.count() for d in AlertDelivery.objects.order_by("pk")] == [1, 1]


def test_each_destination_gets_only_its_events_and_virtual_servers(web):
    vs, rs = web
    other = factories.virtual_server("mail", address="192.0.2.60", active=True)
    other_rs = factories.real_server(other, "MX1", "192.0.2.61")
    only_web = webhook("http://127.0.0.1:9/a", name="web-only")
    only_web.virtual_servers.add(vs)
    every_vs = webhook("http://127.0.0.1:9/b", name="every", events=["health", "drift"])
    drift_only = webhook("http://127.0.0.1:9/c", name="drift", events=["drift"])
    webhook("http://127.0.0.1:9/d", name="off", enabled=False)
    write_transition(other_rs.pk, "down", "refused", None)
    write_transition(rs.pk, "down", "refused", None)
    alerts_events.record(alerts_events.DRIFT, director="lb1", new_state="drift")
    alerts_delivery.route()

    def got(destination):
        return sorted(e.subject() for d in destination.deliveries.all() for e in d.events.all())

    assert got(only_web) == ["web/CAS1 unknown -> down"]
    assert got(every_vs) == ["lb1 drift", "mail/MX1 unknown -> down", "web/CAS1 unknown -> down"]
    assert got(drift_only) == ["lb1 drift"]
    assert AlertDelivery.objects.filter(destination_name="off").count() == 0
    assert AlertEvent.objects.filter(routed_at__isnull=True).count() == 0


def test_an_event_is_routed_once_however_often_the_router_runs(web):
    vs, rs = web
    webhook("http://127.0.0.1:9/a")
    write_transition(rs.pk, "down", "refused", None)
    assert alerts_delivery.route() == 1
    assert alerts_delivery.route() == 0
    assert AlertDelivery.objects.get().events.count() == 1


def test_a_claimed_delivery_is_not_claimed_again_until_its_claim_expires(web):
    vs, rs = web
    webhook("http://127.0.0.1:9/a")
    write_transition(rs.pk, "down", "refused", None)
    now = timezone.now()
    alerts_delivery.route(now)
    later = now + datetime.timedelta(seconds=31)
    assert len(alerts_delivery.claim_due(later)) == 1
    assert alerts_delivery.claim_due(later) == []
    assert len(alerts_delivery.claim_due(later + datetime.timedelta(seconds=alerts_delivery.CLAIM_SECONDS + 1))) == 1


def test_an_apply_failure_and_drift_reported_below_become_events(db):
    director = factories.director("lb1")
    run = ApplyRun.objects.create(director=director, trigger="change", result=ApplyRun.Result.ERROR,
                                  error="ipvsadm: Memory allocation problem")
    signals.apply_failed.send(ApplyRun, run=run)
    signals.drift_found.send(Director, director=director, summary="1 difference(s): -d -t 192.0.2.50:443")
    failed, drift = AlertEvent.objects.order_by("pk")
    assert (failed.kind, failed.director) == ("apply_failed", "lb1") and "Memory allocation" in failed.reason
    assert (drift.kind, drift.director) == ("drift", "lb1") and "-d -t 192.0.2.50:443" in drift.reason


def test_a_vrrp_transition_seen_by_the_poll_becomes_an_event(db):
    director = factories.director("lb1")
    status = VrrpStatus(True, (NotifyLine(time.time() - 5, "INSTANCE", "lbadmin_51", "BACKUP", 100),
                               NotifyLine(time.time() - 1, "INSTANCE", "lbadmin_51", "MASTER", 100)), (), 0)
    record_transitions(director, status)
    record_transitions(director, status)  # the same log read again: nothing new
    events = list(AlertEvent.objects.filter(kind="vrrp").values_list("director", "old_state", "new_state"))
    assert events == [("lb1", "", "BACKUP"), ("lb1", "BACKUP", "MASTER")]


def test_a_stalled_checker_is_reported_after_the_grace_and_once_when_it_is_back(web, empty_redis):
    from lbadmin.redis_client import get_redis

    start = time.time()
    get_redis().set(LAST_RESULT_KEY, str(start - 600))  # results stopped long ago
    assert alerts_delivery.watch_checker(start) == ""
    assert alerts_delivery.watch_checker(start + alerts_delivery.CHECKER_GRACE) == "raised"
    assert alerts_delivery.watch_checker(start + alerts_delivery.CHECKER_GRACE + 5) == ""
    get_redis().set(LAST_RESULT_KEY, str(start + 100))
    assert alerts_delivery.watch_checker(start + 100) == "cleared"
    assert alerts_delivery.watch_checker(start + 101) == ""
    events = list(AlertEvent.objects.filter(kind="checker").values_list("new_state", flat=True))
    assert events == ["stalled", "working"]
    assert "no results for" in AlertEvent.objects.filter(kind="checker").first().reason


def test_the_webhook_body_is_the_documented_json():
    from monitoring.alerts_messages import payload

    event = AlertEvent(pk=7, kind="health", at=datetime.datetime(2026, 12, 2, tzinfo=datetime.timezone.utc),
                       virtual_server_name="web", real_server="CAS1", old_state="up", new_state="down", reason="x")
    body = payload([event], delivery_id=3)
    assert set(body) >= {"event", "at", "director", "virtual_server", "real_server", "old_state", "new_state",
                         "reason", "summary", "count", "events", "omitted", "message_id", "test"}
    assert json.loads(json.dumps(body)) == body


def test_the_readmes_verify_function_accepts_a_delivered_webhook_and_refuses_a_changed_one(web):
    from pathlib import Path

    section = (Path(__file__).resolve().parent.parent / "README.md").read_text().split("## Alerts", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)
    verify = namespace["verify"]
    vs, rs = web
    post = posted_down_transition(rs)
    stamp, signature = post.headers["x-lbadmin-timestamp"], post.headers["x-lbadmin-signature"]
    assert verify(SECRET.encode(), post.body, stamp, signature)
    assert not verify(SECRET.encode(), post.body.replace(b"down", b"up!!"), stamp, signature)
    assert not verify(SECRET.encode(), post.body, str(int(stamp) + 1), signature)
    assert not verify(b"wrong-secret", post.body, stamp, signature)


def test_an_apply_failing_the_same_way_again_is_not_reported_again(db):
    director = factories.director("lb1")

    def failed(error):
        run = ApplyRun.objects.create(director=director, trigger="sweep", result=ApplyRun.Result.ERROR, error=error)
        signals.apply_failed.send(ApplyRun, run=run)

    failed("SSH: connection refused")
    failed("SSH: connection refused")  # the next sweep, still down
    failed("ipvsadm: Memory allocation problem")  # another reason: reported
    ApplyRun.objects.create(director=director, trigger="sweep", result=ApplyRun.Result.OK)
    failed("ipvsadm: Memory allocation problem")  # failing again after a success: reported
    reasons = [r.split(": ", 1)[1] for r in AlertEvent.objects.order_by("pk").values_list("reason", flat=True)]
    assert reasons == ["SSH: connection refused", "ipvsadm: Memory allocation problem",
                       "ipvsadm: Memory allocation problem"]


def test_a_disabled_destination_fails_its_waiting_message_at_once(web):
    vs, rs = web
    destination = webhook("http://127.0.0.1:9/a")
    write_transition(rs.pk, "down", "refused", None)
    alerts_delivery.route()
    destination.enabled = False
    destination.save()
    later = timezone.now() + datetime.timedelta(seconds=31)
    [pk] = alerts_delivery.claim_due(later)
    delivery = alerts_delivery.attempt(pk, later)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "the destination was disabled" in delivery.last_error


def test_old_messages_are_forgotten_but_never_a_waiting_one(web, settings):
    vs, rs = web
    settings.ALERT_KEEP_DAYS = 90
    webhook("http://127.0.0.1:9/a")
    write_transition(rs.pk, "down", "refused", None)
    alerts_delivery.route()
    old = timezone.now() - datetime.timedelta(days=91)
    AlertEvent.objects.update(at=old)
    AlertDelivery.objects.update(created_at=old)
    assert alerts_delivery.prune() == 0  # still pending
    AlertDelivery.objects.update(status="sent")
    assert alerts_delivery.prune() == 1
    assert not AlertDelivery.objects.exists() and not AlertEvent.objects.exists()


def test_a_reconcile_that_fails_reports_its_failure_as_an_event(db, redis_url):
    from lbadmin.models import ClusterSettings
    from virtualservers import ipvs
    from virtualservers.reconcile import forget_executor, reconcile_director

    cluster = ClusterSettings.load()
    cluster.ipvsadm_path = "/nonexistent/ipvsadm"  # a real failure, nothing faked
    cluster.save()
    director = factories.director("lb1")
    forget_executor(director.pk)
    with pytest.raises(ipvs.IpvsError):
        reconcile_director(director.pk, "change")
    forget_executor(director.pk)
    [event] = AlertEvent.objects.filter(kind="apply_failed")
    run = ApplyRun.objects.get(director=director)
    assert event.director == "lb1" and event.reason == f"apply {run.pk} (change): {run.error}"
