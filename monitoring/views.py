"""CONTROL/MONITORING: the product's own processes, the Applies panel, the health
checker's alarm, the VRRP state of each redundancy group and the live routing table of
every enabled director."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lbadmin.http import partial
from lbadmin.roles import VIEWER, role_required
from virtualservers.apply_status import apply_status

from .checker_alarm import checker_alarm
from .live_table import director_views, enabled_directors
from .process_pings import check_all
from .vrrp_table import group_states

INTERVALS = [0, 1, 2, 5, 10, 30]


def _interval(request: HttpRequest) -> int:
    try:
        value = int(request.GET.get("interval", 2))
    except ValueError:
        return 2
    return value if value in INTERVALS else 2


def _live_context(request: HttpRequest) -> dict:
    """The live table and the VRRP panel: one read of each director's snapshot for both."""
    views = director_views(enabled_directors())
    return {"interval": _interval(request), "views": views, "groups": group_states([view for view, _ in views])}


@require_GET
@role_required(VIEWER)
def control(request: HttpRequest) -> HttpResponse:
    if request.htmx and request.GET.get("part") == "processes":
        return partial(request, "monitoring/_processes.html", {"processes": check_all()})
    return render(request, "monitoring/control.html", {
        "processes": check_all(), "intervals": INTERVALS, "alarm": checker_alarm(), **_live_context(request),
        **apply_status(),
    })


@require_GET
@role_required(VIEWER)
def live(request: HttpRequest) -> HttpResponse:
    return partial(request, "monitoring/_live.html", _live_context(request))
