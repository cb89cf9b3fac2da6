"""CONTROL/MONITORING: the product's own processes, the Applies panel, the health
checker's alarm, the VRRP state of each redundancy group and the live routing table of
every enabled director (a page of services at a time, filtered; its poll sends only what
changed, monitoring.live_diff)."""
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from lbadmin.http import partial
from lbadmin.roles import VIEWER, role_required
from virtualservers.apply_status import apply_status

from . import live_diff
from .checker_alarm import checker_alarm
from .live_table import LiveQuery, director_views, enabled_directors
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
    interval, query = _interval(request), LiveQuery.from_request(request.GET)
    views = director_views(enabled_directors(), query)
    groups = group_states([view for view, _ in views])
    base = urlencode({"interval": interval, **({"q": query.text} if query.text else {})})
    state = live_diff.state_of(views, groups, query, interval)
    live_diff.save(state)
    return {"interval": interval, "query": query, "views": views, "groups": groups, "live_state": state,
            "live_base": base, "live_query": base + (f"&page={query.page}" if query.page > 1 else "")}


@require_GET
@role_required(VIEWER)
def control(request: HttpRequest) -> HttpResponse:
    if request.GET.get("part") == "processes":
        return partial(request, "monitoring/_processes.html", {"processes": check_all()})
    # The processes panel fills itself after the page: a worker that does not answer keeps
    # its ping waiting a whole second (the page took 1,045 ms with none running).
    return render(request, "monitoring/control.html", {
        "processes": None, "intervals": INTERVALS, "alarm": checker_alarm(), **_live_context(request),
        **apply_status(),
    })


@require_GET
@role_required(VIEWER)
def live(request: HttpRequest) -> HttpResponse:
    """The live panel; to a page that says which version it shows, only what changed."""
    context = _live_context(request)
    changes = live_diff.changed(request.headers.get("X-Live-Version", ""), context["live_state"])
    if changes is None:
        response = partial(request, "monitoring/_live.html", context)
    else:
        response = (render(request, "monitoring/_live_changes.html", {**context, "changes": changes}) if changes
                    else HttpResponse(status=204))
        response["HX-Reswap"] = "none"  # out-of-band swaps only: #live itself stays
    response["X-Live-Version"] = context["live_state"].version
    patch_vary_headers(response, ["HX-Request", "X-Live-Version"])
    return response
