"""The Applies panel: each enabled director's state, its latest ApplyRun, whether a
reconcile is queued and how many changes wait in the outbox (for Redis). Shown on
CONTROL/MONITORING and the virtual-server pages; it refreshes itself (APPLIES_POLL, faster
while an apply is in flight)."""
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from lbadmin.models import Director
from lbadmin.redis_client import get_redis, note_failure, redis_outage

from . import outbox
from .models import ApplyRun
from .reconcile import PENDING_KEY

APPLIES_POLL = 5  # seconds between refreshes of an open panel; 1 s while something is in flight


@dataclass(frozen=True)
class DirectorApply:
    director: Director
    run: ApplyRun | None
    pending: bool
    waiting: int = 0  # changes in the outbox, not yet sent to the queue


def apply_status() -> dict:
    """Template context: `applies` (one DirectorApply per enabled director),
    `apply_in_flight` (the panel polls every second while true) and `apply_problem` (why
    part of it is unknown). Queries: three, whatever the number of directors; Redis: one
    round trip, none while Redis is known to be down."""
    directors = list(Director.objects.filter(enabled=True))
    latest: dict[int, ApplyRun] = {}
    if directors:
        # The newest run per director: ApplyRun is ordered newest first.
        for run in ApplyRun.objects.filter(pk__in=_latest_run_ids(directors)):
            latest[run.director_id] = run
    waiting = outbox.waiting() if directors else {}
    pending, problem = _pending(directors)
    applies = [DirectorApply(d, latest.get(d.pk), bool(p), waiting.get(d.pk, 0)) for d, p in zip(directors, pending)]
    in_flight = any(a.pending or (a.run is not None and a.run.in_flight) for a in applies)
    return {"applies": applies, "apply_in_flight": in_flight, "apply_problem": problem, "applies_poll": APPLIES_POLL}


def _pending(directors: list[Director]) -> tuple[list, str]:
    """Whether a reconcile is queued, per director; with Redis down, no one knows: the
    page renders from the database and says so."""
    outage = redis_outage()
    if outage is None and directors:
        try:
            pipe = get_redis().pipeline(transaction=False)
            for director in directors:
                pipe.exists(PENDING_KEY.format(director.pk))
            return pipe.execute(), ""
        except Exception as exc:
            note_failure(exc)
            outage = redis_outage()
    if outage is None:
        return [], ""
    return [False] * len(directors), (f"{outage.words}: queued applies cannot be seen; changes are saved "
                                      "and wait in the outbox until it is back")


def _latest_run_ids(directors: list[Director]):
    newest = ApplyRun.objects.filter(director=OuterRef("pk")).values("pk")[:1]
    return Director.objects.filter(pk__in=[d.pk for d in directors]).annotate(
        latest=Subquery(newest)).exclude(latest=None).values("latest")
