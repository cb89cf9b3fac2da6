"""VIRTUAL SERVERS and, per virtual server, its VIRTUAL SERVER, REAL SERVER
and MONITORING SCRIPTS tabs."""
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lbadmin import audit
from lbadmin.editing import edit_page
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, check_role, role_required

from . import changes
from .forms import HealthCheckForm, RealServerForm, VirtualServerForm
from .models import HealthCheck, RealServer, VirtualServer


def _row_or_redirect(request, template: str, context: dict, fallback: str):
    """HTMX gets the swapped row; a plain form post goes back to the list."""
    if request.htmx:
        response = render(request, template, context)
        response["Vary"] = "HX-Request"
        response["HX-Trigger"] = "applyQueued"  # the apply panel starts following the new run
        return response
    return redirect(fallback)


@require_GET
@role_required(VIEWER)
def virtual_list(request):
    from monitoring.views import _apply_context

    servers = VirtualServer.objects.prefetch_related("real_servers")
    return render(request, "virtualservers/virtual_list.html", {"servers": servers, **_apply_context()})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def virtual_add(request):
    def created(vs, before):
        HealthCheck.objects.get_or_create(virtual_server=vs)
        changes.configuration_changed("virtual server added")

    return edit_page(request, form_class=VirtualServerForm, instance=VirtualServer(),
                     template="virtualservers/virtual_form.html", on_saved=created,
                     success_url=lambda vs: reverse("virtual_edit", args=[vs.pk]))


@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def virtual_edit(request, pk: int):
    vs = get_object_or_404(VirtualServer, pk=pk)
    if request.method == "POST":
        check_role(request.user, ADMIN)
    return edit_page(request, form_class=VirtualServerForm, instance=vs, template="virtualservers/virtual_form.html",
                     context={"vs": vs, "tab": "virtual"}, on_saved=lambda o, b: changes.configuration_changed("virtual server edited"),
                     success_url=lambda o: reverse("virtual_edit", args=[o.pk]))


@require_POST
@role_required(ADMIN)
def virtual_delete(request, pk: int):
    vs = get_object_or_404(VirtualServer, pk=pk)
    with transaction.atomic():
        audit.record("delete", vs, before=audit.snapshot(vs))
        vs.delete()
        changes.configuration_changed("virtual server deleted")
    messages.success(request, f"Deleted virtual server {vs}.")
    if request.htmx:
        return render(request, "virtualservers/_deleted_row.html", {})
    return redirect("virtual_list")


@require_POST
@role_required(OPERATOR)
def virtual_toggle(request, pk: int):
    with transaction.atomic():
        vs = get_object_or_404(VirtualServer.objects.select_for_update(), pk=pk)
        before = audit.snapshot(vs)
        vs.active = not vs.active
        vs.save(update_fields=["active", "updated_at"])
        audit.record("activate" if vs.active else "deactivate", vs, before=before, after=audit.snapshot(vs))
        changes.configuration_changed("virtual server (de)activated")
    return _row_or_redirect(request, "virtualservers/_virtual_row.html", {"vs": vs}, reverse("virtual_list"))


# Real servers ---------------------------------------------------------------

@require_GET
@role_required(VIEWER)
def real_list(request, pk: int):
    vs = get_object_or_404(VirtualServer, pk=pk)
    from monitoring.views import _apply_context

    return render(request, "virtualservers/real_list.html", {"vs": vs, "tab": "real", "servers": vs.real_servers.all(), **_apply_context()})


@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def real_edit(request, pk: int, rs_pk: int | None = None):
    vs = get_object_or_404(VirtualServer, pk=pk)
    rs = get_object_or_404(RealServer, pk=rs_pk, virtual_server=vs) if rs_pk else RealServer(virtual_server=vs)
    if request.method == "POST" or rs_pk is None:
        check_role(request.user, ADMIN)
    return edit_page(request, form_class=RealServerForm, instance=rs, template="virtualservers/real_form.html",
                     context={"vs": vs, "tab": "real"}, form_kwargs={"virtual_server": vs},
                     on_saved=lambda o, b: changes.configuration_changed("real server saved"),
                     success_url=reverse("real_list", args=[vs.pk]))


@require_POST
@role_required(ADMIN)
def real_delete(request, pk: int, rs_pk: int):
    rs = get_object_or_404(RealServer, pk=rs_pk, virtual_server_id=pk)
    with transaction.atomic():
        audit.record("delete", rs, before=audit.snapshot(rs))
        rs.delete()
        changes.configuration_changed("real server deleted")
    messages.success(request, f"Deleted real server {rs}.")
    if request.htmx:
        return render(request, "virtualservers/_deleted_row.html", {})
    return redirect("real_list", pk=pk)


def _set_admin_state(request, pk: int, rs_pk: int, decide):
    with transaction.atomic():
        rs = get_object_or_404(RealServer.objects.select_for_update().select_related("virtual_server"), pk=rs_pk, virtual_server_id=pk)
        before = audit.snapshot(rs)
        new_state, action = decide(rs)
        rs.admin_state = new_state
        rs.drain_started_at = timezone.now() if new_state == RealServer.AdminState.DRAINING else None
        rs.save(update_fields=["admin_state", "drain_started_at"])
        audit.record(action, rs, before=before, after=audit.snapshot(rs))
        changes.configuration_changed(f"real server {action}")
    return _row_or_redirect(request, "virtualservers/_real_row.html", {"vs": rs.virtual_server, "rs": rs}, reverse("real_list", args=[pk]))


@require_POST
@role_required(OPERATOR)
def real_toggle(request, pk: int, rs_pk: int):
    def decide(rs):
        if rs.admin_state == RealServer.AdminState.ENABLED:
            return RealServer.AdminState.DISABLED, "deactivate"
        return RealServer.AdminState.ENABLED, "activate"

    return _set_admin_state(request, pk, rs_pk, decide)


@require_POST
@role_required(OPERATOR)
def real_drain(request, pk: int, rs_pk: int):
    return _set_admin_state(request, pk, rs_pk, lambda rs: (RealServer.AdminState.DRAINING, "drain"))


# Monitoring scripts -----------------------------------------------------------

@require_http_methods(["GET", "POST"])
@role_required(VIEWER)
def check_edit(request, pk: int):
    vs = get_object_or_404(VirtualServer, pk=pk)
    check, _ = HealthCheck.objects.get_or_create(virtual_server=vs)
    if request.method == "POST":
        check_role(request.user, ADMIN)
    return edit_page(request, form_class=HealthCheckForm, instance=check, template="virtualservers/check_form.html",
                     context={"vs": vs, "tab": "check"}, object_type="HealthCheck",
                     success_url=reverse("check_edit", args=[vs.pk]))
