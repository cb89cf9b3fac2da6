"""Health pages: a real server's history, "check now" (operators) and "try it" (admins)."""
from types import SimpleNamespace

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from lbadmin.http import page_or_partial
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, role_required
from virtualservers.forms import HealthCheckForm
from virtualservers.health_facts import last_results
from virtualservers.models import HealthCheck, RealServer, VirtualServer
from virtualservers.views import real_row_response

from .manual_checks import check_now as run_check_now
from .manual_checks import result_line, try_check

HISTORY_PAGE_SIZE = 50


def _get_real_server(rs_pk: int) -> RealServer:
    return get_object_or_404(RealServer.objects.select_related("virtual_server"), pk=rs_pk)


@require_GET
@role_required(VIEWER)
def history(request: HttpRequest, rs_pk: int) -> HttpResponse:
    rs = _get_real_server(rs_pk)
    page = Paginator(rs.health_events.all(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "monitoring/health_history.html", {
        "rs": rs, "vs": rs.virtual_server, "page": page, "tab": "real",
        "check": rs.virtual_server.check_or_default(), "last": last_results([rs.pk]).get(rs.pk),
    })


@require_POST
@role_required(OPERATOR)
def check_now(request: HttpRequest, rs_pk: int) -> HttpResponse:
    """Run the real server's check once and count it; the row comes back with the line."""
    rs = _get_real_server(rs_pk)
    result = run_check_now(rs)
    rs.refresh_from_db()
    return real_row_response(request, rs, check_line=result_line(result))


@require_POST
@role_required(ADMIN)
def try_it(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a check against a chosen real server and show the one line; counts nothing.

    With the form's fields in the POST (the MONITORING SCRIPTS form, through HTMX) the check
    is tried as typed, before it is saved; without them, as saved."""
    vs = get_object_or_404(VirtualServer, pk=pk)
    context: dict = {"vs": vs}
    result = None
    rs = vs.real_servers.filter(pk=request.POST.get("real_server") or 0).first() \
        if (request.POST.get("real_server") or "").isdigit() else None
    if rs is None:
        context["error"] = "Choose one of this virtual server's real servers."
    elif "check_type" in request.POST:
        form = HealthCheckForm(request.POST, instance=HealthCheck(virtual_server=vs))
        if form.is_valid():
            result = try_check(SimpleNamespace(**form.cleaned_data), rs)
        else:
            context["error"] = "Not tried: " + "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
    else:
        result = try_check(vs.check_or_default(), rs)
    if result is not None:
        context.update(line=result_line(result), line_ok=result.ok)
    if rs is not None:
        context["rs"] = rs
    return page_or_partial(request, "monitoring/health_try.html", "monitoring/_health_try.html", context)
