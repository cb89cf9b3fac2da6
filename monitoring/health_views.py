"""Health pages: a real server's history, "check now" (operators) and "try it" (admins).

Both are audited with what they run (a program's exact argv); a program check goes to the
worker and the page polls for its line (monitoring/manual_checks.py says why)."""
import time
from types import SimpleNamespace

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from lbadmin import audit
from lbadmin.http import as_id, page_or_partial
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, role_required
from virtualservers.forms import HealthCheckForm
from virtualservers.health_facts import last_results
from virtualservers.models import HealthCheck, RealServer, VirtualServer
from virtualservers.views import real_row_response

from .check_targets import target_for
from .manual_checks import CHECK_NOW, TRY, described, open_request, queued_result, result_line, run_one, runs_in_worker, spec_payload
from .manual_checks import check_now as run_check_now
from .tasks import queue_manual_check

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
    """Run the real server's check once and count it; the row comes back with the line
    (or, for a program check, with the line to come from the worker)."""
    rs = _get_real_server(rs_pk)
    started = _start(request, CHECK_NOW, rs, None)
    rs.refresh_from_db()
    return real_row_response(request, rs, check_line=started.get("line", ""), check_pending=started.get("pending", ""))


@require_POST
@role_required(ADMIN)
def try_it(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a check against a chosen real server and show the one line; counts nothing.

    With the form's fields in the POST (the MONITORING SCRIPTS form, through HTMX) the check
    is tried as typed, before it is saved; without them, as saved."""
    vs = get_object_or_404(VirtualServer, pk=pk)
    context: dict = {"vs": vs}
    rs_id = as_id(request.POST.get("real_server"))
    rs = vs.real_servers.filter(pk=rs_id).first() if rs_id is not None else None
    if rs is None:
        context["error"] = "Choose one of this virtual server's real servers."
    elif "check_type" in request.POST:
        form = HealthCheckForm(request.POST, instance=HealthCheck(virtual_server=vs))
        if form.is_valid():
            context.update(_start(request, TRY, rs, SimpleNamespace(**form.cleaned_data)))
        else:
            context["error"] = "Not tried: " + "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
    else:
        context.update(_start(request, TRY, rs, vs.check_or_default()))
    if rs is not None:
        context["rs"] = rs
    return page_or_partial(request, "monitoring/health_try.html", "monitoring/_health_try.html", context)


@require_GET
@role_required(OPERATOR)
def manual_result(request: HttpRequest, token: str) -> HttpResponse:
    """The line of a check queued to the worker, polled by the page that asked for it."""
    found = queued_result(token, request.user.get_username())
    if found is None:  # a page left open past RESULT_TTL ends its polling with words, not a 404
        context: dict = {"error": "No such check: it is older than five minutes, or not yours."}
        return page_or_partial(request, "monitoring/health_manual.html", "monitoring/_manual_line.html", context)
    if "line" in found:
        context = {"line": found["line"], "line_ok": found.get("ok") == "1"}
    elif time.time() > float(found["deadline"]):
        context = {"error": "No answer from the worker: is it running? The check was dropped unrun."}
    else:
        context = {"pending": token}
    context["rs"] = RealServer.objects.filter(pk=found["rs"]).first()
    return page_or_partial(request, "monitoring/health_manual.html", "monitoring/_manual_line.html", context)


def _start(request: HttpRequest, kind: str, rs: RealServer, check: object | None) -> dict:
    """Audit the check with what it runs, then run it here or queue it to the worker;
    the template words: line and line_ok, or pending (the token to poll)."""
    spec = target_for(rs, check).spec
    audit.record(kind, rs, message=described(spec), request=request)
    if not runs_in_worker(spec):
        result = run_check_now(rs) if kind == CHECK_NOW else run_one(spec)
        return {"line": result_line(result), "line_ok": result.ok}
    token, wait = open_request(kind, rs, request.user.get_username(), spec.timeout)
    queue_manual_check(token, kind, rs.pk, spec_payload(spec) if kind == TRY else None, wait)
    return {"pending": token}
