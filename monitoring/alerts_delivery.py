"""Events to messages, database side: route each new event to the destinations that want
it (into the destination's open batch, which waits settings.ALERT_WINDOW seconds for more),
claim the batches that came due, attempt one, record the result and, on failure, when to
try again (BACKOFF) or that it failed for good. The tasks that run this are in tasks.py."""
from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lbadmin.redis_client import get_redis

from . import alerts_events, alerts_messages, alerts_send
from .alerts_kinds import PER_VIRTUAL_SERVER
from .alerts_models import AlertDelivery, AlertDestination, AlertEvent
from .checker_alarm import checker_alarm

log = logging.getLogger(__name__)

BACKOFF = (10, 30, 120, 600)  # seconds before the 2nd .. 5th attempt; the 5th failure is final
CLAIM_SECONDS = 60  # longer than one attempt (5-s timeouts); a claim this old was abandoned
ROUTE_BATCH = 500
OPEN_MARGIN = datetime.timedelta(seconds=1)  # a batch this close to due takes no more events
CHECKER_GRACE = 20  # seconds the checker alarm must hold before it is sent (not at every start)
CHECKER_SINCE_KEY = "lbadmin:alerts:checker-alarm-since"
CHECKER_SENT_KEY = "lbadmin:alerts:checker-alarm-sent"


class NotSent(Exception):
    """Nothing to try again: the destination is gone or disabled."""


def prune(now: datetime.datetime | None = None) -> int:
    """Forget messages older than settings.ALERT_KEEP_DAYS (never a pending one), and the
    events no message holds any more; returns how many messages went."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.ALERT_KEEP_DAYS)
    _, gone = AlertDelivery.objects.filter(created_at__lt=cutoff).exclude(status=AlertDelivery.Status.PENDING).delete()
    AlertEvent.objects.filter(at__lt=cutoff, routed_at__isnull=False, deliveries__isnull=True).delete()
    return gone.get(AlertDelivery._meta.label, 0)


def wants(destination: AlertDestination, event: AlertEvent, chosen_vs: set[int]) -> bool:
    if not destination.enabled or event.kind not in destination.events:
        return False
    if event.kind in PER_VIRTUAL_SERVER and chosen_vs:
        return event.virtual_server_id in chosen_vs
    return True


def route(now: datetime.datetime | None = None) -> int:
    """Put each unrouted event in the open batch of every destination that wants it;
    returns how many events were routed. Each event is taken with a conditional UPDATE,
    so two routers never route one twice."""
    now = now or timezone.now()
    events = list(AlertEvent.objects.filter(routed_at__isnull=True).order_by("at", "id")[:ROUTE_BATCH])
    if not events:
        return 0
    destinations = [(d, {vs.pk for vs in d.virtual_servers.all()})
                    for d in AlertDestination.objects.filter(enabled=True).prefetch_related("virtual_servers")]
    window = datetime.timedelta(seconds=settings.ALERT_WINDOW)
    done = 0
    touched: set[int] = set()
    for event in events:
        with transaction.atomic():
            if not AlertEvent.objects.filter(pk=event.pk, routed_at__isnull=True).update(routed_at=now):
                continue
            for destination, chosen in destinations:
                if wants(destination, event, chosen):
                    # The clock now, not at the start: a long route must not add to a batch
                    # that came due (and may be on its way) meanwhile.
                    batch = _open_batch(destination, max(now, timezone.now()), window)
                    batch.events.add(event)
                    touched.add(batch.pk)
            done += 1
    for batch in AlertDelivery.objects.filter(pk__in=touched, status=AlertDelivery.Status.PENDING):
        # What the page says of a batch still gathering; the attempt says it again at the end.
        AlertDelivery.objects.filter(pk=batch.pk).update(
            summary=alerts_messages.summary(list(batch.events.order_by("at", "id"))))
    return done


def _open_batch(destination: AlertDestination, now: datetime.datetime, window: datetime.timedelta) -> AlertDelivery:
    """The destination's batch still gathering events, else a new one due after the window."""
    batch = AlertDelivery.objects.filter(destination=destination, test=False, attempts=0, claimed_until__isnull=True,
                                         status=AlertDelivery.Status.PENDING, due_at__gt=now + OPEN_MARGIN).first()
    if batch is None:
        batch = AlertDelivery.objects.create(destination=destination, destination_name=destination.name,
                                             created_at=now, due_at=now + window)
    return batch


def _free(now: datetime.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim_due(now: datetime.datetime | None = None) -> list[int]:
    """The pending deliveries whose time came, each taken by exactly one caller."""
    now = now or timezone.now()
    due = AlertDelivery.objects.filter(_free(now), status=AlertDelivery.Status.PENDING, due_at__lte=now)
    claimed = []
    for pk in due.values_list("pk", flat=True)[:100]:
        if due.filter(pk=pk).update(claimed_until=now + datetime.timedelta(seconds=CLAIM_SECONDS)):
            claimed.append(pk)
    return claimed


def release(delivery_id: int) -> None:
    AlertDelivery.objects.filter(pk=delivery_id).update(claimed_until=None)


def attempt(delivery_id: int, now: datetime.datetime | None = None) -> AlertDelivery:
    """Send one claimed delivery once and record what happened: sent, or the error and the
    next try (BACKOFF), or failed after the last. A test message is tried once."""
    now = now or timezone.now()
    delivery = AlertDelivery.objects.select_related("destination").get(pk=delivery_id)
    events = list(delivery.events.order_by("at", "id"))
    if not delivery.test:
        delivery.summary = alerts_messages.summary(events)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    try:
        line = _send(delivery, events, now)
    except Exception as exc:  # whatever went wrong ends on the ALERTS page, with its words
        error = f"{type(exc).__name__}: {exc}"[:500]
        delivery.last_error = error
        final = delivery.test or isinstance(exc, NotSent) or delivery.attempts > len(BACKOFF)
        if final:
            delivery.status = AlertDelivery.Status.FAILED
            line = f"failed: {error}; no more attempts"
        else:
            delivery.due_at = now + datetime.timedelta(seconds=BACKOFF[delivery.attempts - 1])
            line = f"failed: {error}; next attempt at {delivery.due_at:%H:%M:%S} UTC"
        log.warning("alert %s to %s, attempt %s: %s", delivery.pk, delivery.destination_name, delivery.attempts, line)
    else:
        delivery.status, delivery.sent_at, delivery.last_error = AlertDelivery.Status.SENT, now, ""
        log.info("alert %s sent to %s: %s", delivery.pk, delivery.destination_name, line)
    delivery.log += f"{now:%Y-%m-%d %H:%M:%S} UTC attempt {delivery.attempts}: {line}\n"
    delivery.claimed_until = None
    delivery.save()
    return delivery


def _send(delivery: AlertDelivery, events: list[AlertEvent], now: datetime.datetime) -> str:
    destination = delivery.destination
    if destination is None:
        raise NotSent("the destination was deleted")
    if not destination.enabled and not delivery.test:
        raise NotSent("the destination was disabled")
    if destination.kind == AlertDestination.Kind.WEBHOOK:
        body = alerts_messages.payload(events, delivery_id=delivery.pk, test=delivery.test, now=now)
        return alerts_send.post_webhook(destination.url, destination.secret, body)
    subject, text = alerts_messages.mail(events, test=delivery.test)
    return alerts_send.send_mail(destination.recipients(), subject, text)


def send_test(destination: AlertDestination, by: str = "") -> AlertDelivery:
    """The "send test" button: one message now, recorded like any other."""
    now = timezone.now()
    delivery = AlertDelivery.objects.create(destination=destination, destination_name=destination.name, test=True,
                                            summary=f"test message, sent by {by}" if by else "test message",
                                            created_at=now, due_at=now,
                                            claimed_until=now + datetime.timedelta(seconds=CLAIM_SECONDS))
    return attempt(delivery.pk, now)


@dataclass(frozen=True)
class Pending:
    events: int
    deliveries: int


def pending() -> Pending:
    return Pending(AlertEvent.objects.filter(routed_at__isnull=True).count(),
                   AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING).count())


def watch_checker(now: float | None = None) -> str:
    """The hung-checker alarm as events: one when it has held CHECKER_GRACE seconds (so a
    product starting up, before its first result, sends nothing), one when it clears."""
    now = time.time() if now is None else now
    alarm = checker_alarm(now)
    redis = get_redis()
    if alarm is None:
        sent = redis.delete(CHECKER_SENT_KEY)
        redis.delete(CHECKER_SINCE_KEY)
        if sent:
            alerts_events.record(alerts_events.CHECKER, old_state="stalled", new_state="working",
                                 reason="the health checker produces results again")
            return "cleared"
        return ""
    redis.set(CHECKER_SINCE_KEY, str(now), nx=True)
    since = float(redis.get(CHECKER_SINCE_KEY) or now)
    if now - since >= CHECKER_GRACE and redis.set(CHECKER_SENT_KEY, "1", nx=True):
        alerts_events.record(alerts_events.CHECKER, old_state="working", new_state="stalled", reason=alarm.message)
        return "raised"
    return ""
