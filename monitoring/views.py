from django.shortcuts import render
from django.views.decorators.http import require_GET

from lbadmin.models import Director
from lbadmin.roles import VIEWER, role_required
from virtualservers.models import ApplyRun
from virtualservers.reconcile import PENDING_KEY

from .liveness import check_all
from .liverows import director_views, enabled_directors
from .redis_client import get_redis

INTERVALS = [0, 1, 2, 5, 10, 30]


def _interval(request) -> int:
    try:
        value = int(request.GET.get("interval", 2))
    except ValueError:
        return 2
    return value if value in INTERVALS else 2


def _partial(request, template: str, context: dict):
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@require_GET
@role_required(VIEWER)
def control(request):
    if request.htmx and request.GET.get("part") == "processes":
        return _partial(request, "monitoring/_processes.html", {"processes": check_all()})
    interval = _interval(request)
    return render(request, "monitoring/control.html", {
        "processes": check_all(), "intervals": INTERVALS, "interval": interval,
        "views": director_views(enabled_directors()), **_apply_context(),
    })


@require_GET
@role_required(VIEWER)
def live(request):
    return _partial(request, "monitoring/_live.html", {
        "interval": _interval(request), "views": director_views(enabled_directors())})


def _apply_context() -> dict:
    redis = get_redis()
    latest = []
    in_flight = False
    for director in Director.objects.filter(enabled=True):
        run = ApplyRun.objects.filter(director=director).first()
        pending = bool(redis.exists(PENDING_KEY.format(director.pk)))
        in_flight = in_flight or pending or bool(run and run.in_flight)
        latest.append({"director": director, "run": run, "pending": pending})
    return {"applies": latest, "apply_in_flight": in_flight}


@require_GET
@role_required(VIEWER)
def applies(request):
    return _partial(request, "monitoring/_applies.html", _apply_context())
