"""The Applies panel: each enabled director's state, its latest ApplyRun and whether a
reconcile is queued. Shown on CONTROL/MONITORING and the virtual-server pages."""
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from lbadmin.models import Director
from lbadmin.redis_client import get_redis

from .models import ApplyRun
from .reconcile import PENDING_KEY


@dataclass(frozen=True)
class DirectorApply:
    director: Director
    run: ApplyRun | None
    pending: bool


def apply_status() -> dict:
    """Template context: `applies` (one DirectorApply per enabled director) and
    `apply_in_flight` (the panel keeps polling while true). Queries: two, whatever the
    number of directors; Redis: one round trip."""
    directors = list(Director.objects.filter(enabled=True))
    latest: dict[int, ApplyRun] = {}
    if directors:
        # The newest run per director: ApplyRun is ordered newest first.
        for run in ApplyRun.objects.filter(pk__in=_latest_run_ids(directors)):
            latest[run.director_id] = run
    problem = ""
    try:
        pipe = get_redis().pipeline(transaction=False)
        for director in directors:
            pipe.exists(PENDING_KEY.format(director.pk))
        pending = pipe.execute() if directors else []
    except Exception as exc:  # the page renders from the database, and says what it cannot know
        pending = [False] * len(directors)
        problem = f"Redis unreachable ({exc}): queued applies cannot be seen, and new ones wait for the 30 s sweep"
    applies = [DirectorApply(d, latest.get(d.pk), bool(p)) for d, p in zip(directors, pending)]
    in_flight = any(a.pending or (a.run is not None and a.run.in_flight) for a in applies)
    return {"applies": applies, "apply_in_flight": in_flight, "apply_problem": problem}


def _latest_run_ids(directors: list[Director]):
    newest = ApplyRun.objects.filter(director=OuterRef("pk")).values("pk")[:1]
    return Director.objects.filter(pk__in=[d.pk for d in directors]).annotate(
        latest=Subquery(newest)).exclude(latest=None).values("latest")
