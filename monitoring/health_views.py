"""Health pages: a real server's history, "check now" (operators) and "try it" (admins)."""
from types import SimpleNamespace

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from lbadmin.roles import ADMIN, OPERATOR, VIEWER, role_required
from virtualservers.forms import HealthCheckForm
from virtualservers.models import HealthCheck, RealServer, VirtualServer

from . import health

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
        "check": health.health_check_of(rs.virtual_server),
    })


@require_POST
@role_required(OPERATOR)
def check_now(request: HttpRequest, rs_pk: int) -> HttpResponse:
    """Run the real server's check once and count it; the row comes back with the line."""
    rs = _get_real_server(rs_pk)
    result = health.check_now(rs)
    if not request.htmx:
        return redirect(reverse("real_list", args=[rs.virtual_server_id]))
    rs.refresh_from_db()
    response = render(request, "virtualservers/_real_row.html", {
        "rs": rs, "vs": rs.virtual_server, "check_line": health.result_line(result)})
    response["Vary"] = "HX-Request"
    return response


@require_POST
@role_required(ADMIN)
def try_it(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a check against a chosen real server and show the one line; counts nothing.

    With the form's fields in the POST (the MONITORING SCRIPTS form, through HTMX) the check
    is tried as typed, before it is saved; without them, as saved."""
    vs = get_object_or_404(VirtualServer, pk=pk)
    context: dict = {"vs": vs}
    rs = vs.real_servers.filter(pk=request.POST.get("real_server") or 0).first() \
        if (request.POST.get("real_server") or "").isdigit() else None
    if rs is None:
        context["error"] = "Choose one of this virtual server's real servers."
    elif "check_type" in request.POST:
        form = HealthCheckForm(request.POST, instance=HealthCheck(virtual_server=vs))
        if form.is_valid():
            context["line"] = health.result_line(health.try_check(SimpleNamespace(**form.cleaned_data), rs))
        else:
            context["error"] = "Not tried: " + "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
    else:
        context["line"] = health.result_line(health.try_check(health.health_check_of(vs), rs))
    if rs is not None:
        context["rs"] = rs
    template = "monitoring/_health_try.html" if request.htmx else "monitoring/health_try.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
