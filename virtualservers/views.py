"""VIRTUAL SERVERS and, per virtual server, its VIRTUAL SERVER, REAL SERVER
and MONITORING SCRIPTS tabs; the Applies panel."""
from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lbadmin.editing import edit_page, redisplay_page
from lbadmin.http import page_or_partial, partial
from lbadmin.models import ClusterSettings
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, check_role, role_required

from .apply_status import apply_status
from .formats.realserver_prep import Prep, prepare
from .forms import HealthCheckForm, RealServerForm, VirtualServerForm
from . import actions
from .blast_radius import Consequence, confirmed
from .drain_facts import DrainFact, drain_facts
from .health_facts import LastResult, last_results
from .models import RealServer, VirtualServer
from .tasks import configuration_changed

HTMX_STOP_POLLING = 286


@dataclass(frozen=True)
class RealServerRow:
    """What one row of REAL SERVER shows, computed once for the whole list."""
    rs: RealServer
    last: LastResult | None
    inherited_forwarding: str
    drain: DrainFact | None = None

    @property
    def follows_drain(self) -> bool:
        """A draining row polls itself until the kernel no longer holds the server."""
        return self.rs.admin_state == RealServer.AdminState.DRAINING and self.rs.virtual_server.active \
            and (self.drain is None or self.drain.in_table)


def real_server_rows(servers: list[RealServer], vs: VirtualServer) -> list[RealServerRow]:
    """One query for the settings, one Redis round trip each for the latest results and
    the draining servers' connections."""
    cluster = ClusterSettings.load()
    last = last_results([rs.pk for rs in servers])
    draining = {rs.pk: rs.drain_started_at.timestamp() for rs in servers
                if rs.admin_state == RealServer.AdminState.DRAINING and rs.drain_started_at}
    drains = drain_facts(list(draining), since=draining)
    for rs in servers:
        rs.virtual_server = vs  # the row's forwarding and port need it; no query per row
    return [RealServerRow(rs, last.get(rs.pk), rs.effective_forwarding(cluster), drains.get(rs.pk)) for rs in servers]


def real_row_response(request: HttpRequest, rs: RealServer, *, check_line: str = "",
                      check_pending: str = "") -> HttpResponse:
    """The swapped row for HTMX, back to the list for a plain post."""
    if not request.htmx:
        return redirect("real_list", pk=rs.virtual_server_id)
    row = real_server_rows([rs], rs.virtual_server)[0]
    return page_or_partial(request, "virtualservers/_real_row.html", "virtualservers/_real_row.html",
                           {"vs": rs.virtual_server, "row": row, "check_line": check_line, "pending": check_pending}, trigger="applyQueued")


PAGE_SIZE = 50  # rows of a long list (VIRTUAL SERVERS, REAL SERVERS) per page


def filter_text(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:100]


@require_GET
@role_required(VIEWER)
def virtual_list(request: HttpRequest) -> HttpResponse:
    """A page of virtual servers, filtered by part of a name, a VIP or a real server's
    address or name (1,000 in one page took a second and a megabyte)."""
    text = filter_text(request)
    servers = VirtualServer.objects.annotate(real_count=Count("real_servers")).order_by("name")
    if text:
        with_server = RealServer.objects.filter(Q(address__icontains=text) | Q(name__icontains=text))
        servers = servers.filter(Q(name__icontains=text) | Q(address__icontains=text)
                                 | Q(pk__in=with_server.values("virtual_server_id")))
    page = Paginator(servers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "virtualservers/virtual_list.html", {
        "servers": page, "page_obj": page, "query": text, "filter_label": "name, VIP or real server", **apply_status()})


@require_GET
@role_required(VIEWER)
def applies(request: HttpRequest) -> HttpResponse:
    return partial(request, "virtualservers/_applies.html", apply_status())


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def virtual_add(request: HttpRequest) -> HttpResponse:
    return edit_page(request, form_class=VirtualServerForm, instance=VirtualServer(),
                     template="virtualservers/virtual_form.html", on_saved=actions.virtual_server_added,
                     success_url=lambda vs: reverse("virtual_edit", args=[vs.pk]))


@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def virtual_edit(request: HttpRequest, pk: int) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    if request.method == "POST":
        check_role(request.user, ADMIN)
    return edit_page(request, form_class=VirtualServerForm, instance=vs, template="virtualservers/virtual_form.html",
                     context={"vs": vs, "tab": "virtual"},
                     on_saved=lambda o, b: configuration_changed("virtual server edited", touched=[o.pk]),
                     success_url=lambda o: reverse("virtual_edit", args=[o.pk]))


@require_POST
@role_required(ADMIN)
def virtual_delete(request: HttpRequest, pk: int) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    actions.delete_virtual_server(vs)
    messages.success(request, f"Deleted virtual server {vs}.")
    if request.htmx:
        return render(request, "virtualservers/_deleted_row.html", {})
    return redirect("virtual_list")


@require_POST
@role_required(OPERATOR)
def virtual_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        vs = actions.set_virtual_active(pk)
    except VirtualServer.DoesNotExist:
        raise Http404("No such virtual server.") from None
    if not request.htmx:
        return redirect("virtual_list")
    vs.real_count = vs.real_servers.count()
    return page_or_partial(request, "virtualservers/_virtual_row.html", "virtualservers/_virtual_row.html",
                           {"vs": vs}, trigger="applyQueued")


# Real servers ---------------------------------------------------------------

@require_GET
@role_required(VIEWER)
def real_list(request: HttpRequest, pk: int) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    rows = real_server_rows(list(vs.real_servers.all()), vs)
    return render(request, "virtualservers/real_list.html", {"vs": vs, "tab": "real", "rows": rows, **apply_status()})


@require_GET
@role_required(VIEWER)
def real_row(request: HttpRequest, pk: int, rs_pk: int) -> HttpResponse:
    """One row, polled by HTMX while its server drains; told to stop (286) once it is out
    of the kernel table or no longer draining."""
    rs = get_object_or_404(RealServer.objects.select_related("virtual_server"), pk=rs_pk, virtual_server_id=pk)
    row = real_server_rows([rs], rs.virtual_server)[0]
    response = partial(request, "virtualservers/_real_row.html", {"vs": rs.virtual_server, "row": row})
    if request.htmx and not row.follows_drain:
        response.status_code = HTMX_STOP_POLLING
    return response


@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def real_edit(request: HttpRequest, pk: int, rs_pk: int | None = None) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    rs = get_object_or_404(RealServer, pk=rs_pk, virtual_server=vs) if rs_pk else RealServer(virtual_server=vs)
    if request.method == "POST" or rs_pk is None:
        check_role(request.user, ADMIN)
    return edit_page(request, form_class=RealServerForm, instance=rs, template="virtualservers/real_form.html",
                     context={"vs": vs, "tab": "real"}, form_kwargs={"virtual_server": vs},
                     on_saved=lambda o, b: configuration_changed("real server saved", touched=[o.virtual_server_id]),
                     success_url=reverse("real_list", args=[vs.pk]))


@require_POST
@role_required(ADMIN)
def real_delete(request: HttpRequest, pk: int, rs_pk: int) -> HttpResponse:
    rs = get_object_or_404(RealServer.objects.select_related("virtual_server"), pk=rs_pk, virtual_server_id=pk)
    try:
        actions.delete_real_server(rs, confirmed=confirmed(request.POST))
    except actions.HarmRefused as refused:
        return confirm_harm(request, rs, "delete", refused.harm)
    messages.success(request, f"Deleted real server {rs}.")
    if request.htmx:
        return render(request, "virtualservers/_deleted_row.html", {})
    return redirect("real_list", pk=pk)


def confirm_harm(request: HttpRequest, rs: RealServer, action: str, harm: list[Consequence]) -> HttpResponse:
    """The refusal of a change that empties active services, with what it would do and a
    form that repeats it with confirm=yes: in place of the row for HTMX, else a page
    answered 409 (the status a later API gives too)."""
    urls = {"delete": "real_delete", "drain": "real_drain"}
    context = {"vs": rs.virtual_server, "rs": rs, "action": action, "harm": harm, "tab": "real",
               "action_url": reverse(urls.get(action, "real_toggle"), args=[rs.virtual_server_id, rs.pk])}
    if request.htmx:
        return render(request, "virtualservers/_confirm_row.html", context)
    return render(request, "virtualservers/real_confirm.html", context, status=409)


def _admin_action(request: HttpRequest, pk: int, rs_pk: int, action: str | None) -> HttpResponse:
    """activate, deactivate or drain (None: the toggle decides), audited, then reconciled;
    refused unless confirmed when it leaves an active service without a real server."""
    try:
        rs = actions.set_real_server_state(rs_pk, action, confirmed=confirmed(request.POST), virtual_server_pk=pk)
    except RealServer.DoesNotExist:
        raise Http404("No such real server.") from None
    except actions.HarmRefused as refused:
        return confirm_harm(request, refused.rs, refused.action, refused.harm)
    return real_row_response(request, rs)


@require_POST
@role_required(OPERATOR)
def real_toggle(request: HttpRequest, pk: int, rs_pk: int) -> HttpResponse:
    return _admin_action(request, pk, rs_pk, None)


@require_POST
@role_required(OPERATOR)
def real_drain(request: HttpRequest, pk: int, rs_pk: int) -> HttpResponse:
    return _admin_action(request, pk, rs_pk, "drain")


# Monitoring scripts -----------------------------------------------------------

@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def check_edit(request: HttpRequest, pk: int) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    if request.method == "POST":
        check_role(request.user, ADMIN)
    # A virtual server without a saved check shows the default, unsaved: the first
    # POST creates it (audited as a create), a GET writes nothing.
    check = vs.check_or_default()
    context = {"vs": vs, "tab": "check", "form_fields": "virtualservers/_check_form_fields.html"}
    redrawn = HealthCheckForm.redrawn(request, instance=check)
    if redrawn is not None:  # another type chosen: its fields, nothing saved
        return redisplay_page(request, redrawn, instance=check, template="virtualservers/check_form.html",
                              partial="virtualservers/_check_type_fields.html", context=context)
    return edit_page(request, form_class=HealthCheckForm, instance=check,
                     template="virtualservers/check_form.html", context=context, object_type="HealthCheck",
                     success_url=reverse("check_edit", args=[vs.pk]))


# Prepare real servers ------------------------------------------------------------

def real_server_preps(vs: VirtualServer) -> list[Prep]:
    """One block per forwarding method in use: the virtual server's and any real server's own."""
    cluster = ClusterSettings.load()
    methods = [vs.effective_forwarding(cluster)]
    for rs in vs.real_servers.all():
        rs.virtual_server = vs
        methods.append(rs.effective_forwarding(cluster))
    return [prepare(vs.address, method, nat_router=cluster.nat_router_ip or "") for method in dict.fromkeys(methods)]


@require_GET
@role_required(VIEWER)
def real_prep(request: HttpRequest, pk: int) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    return render(request, "virtualservers/real_prep.html", {"vs": vs, "tab": "prep", "preps": real_server_preps(vs)})
