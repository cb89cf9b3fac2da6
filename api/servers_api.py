"""Virtual servers, their real servers and their health check: read, add, change, delete,
activate, deactivate and drain, through the pages' forms and virtualservers.actions."""
from __future__ import annotations

from django import forms
from django.db.models import Count
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from lbadmin.roles import ADMIN, OPERATOR, VIEWER, check_role
from virtualservers import actions
from virtualservers.forms import HealthCheckForm, RealServerForm, VirtualServerForm
from virtualservers.models import RealServer, VirtualServer
from virtualservers.tasks import configuration_changed

from .formdata import ApiError, FormResource
from .schemas import WRITE, responses

router = Router(tags=["virtual servers"])

virtual = FormResource(
    VirtualServerForm, "VirtualServer",
    extra_out={"active": bool, "real_servers": int},
    extra_values=lambda vs: {"active": vs.active, "real_servers": getattr(vs, "real_count", None)
                             if hasattr(vs, "real_count") else vs.real_servers.count()},
    creation_fields={"active": forms.BooleanField(
        required=False, label="Active", help_text="Only when adding: true adds it active (applied at once). "
                                                  "Default false: POST .../activate once its real servers are in.")})
real = FormResource(
    RealServerForm, "RealServer",
    extra_out={"virtual_server": int, "admin_state": str, "health": str, "health_reason": str},
    extra_values=lambda rs: {"virtual_server": rs.virtual_server_id, "admin_state": rs.admin_state,
                             "health": rs.health, "health_reason": rs.health_reason},
    form_kwargs=lambda rs: {"virtual_server": rs.virtual_server},
    creation_fields={"active": forms.BooleanField(
        required=False, label="Active", help_text="Only when adding: false adds it deactivated. Default true.")})
check = FormResource(HealthCheckForm, "HealthCheck", extra_out={"virtual_server": int},
                     extra_values=lambda c: {"virtual_server": c.virtual_server_id}, object_type="HealthCheck")


def _harm_refused(refused: actions.HarmRefused) -> ApiError:
    return ApiError(409, {
        "detail": f"Nothing was changed: {refused.action} of {refused.rs} would leave an active service without "
                  "a real server. Repeat with confirm=true to do it anyway.",
        "consequences": [f"{c.vs.name}: {c.outcome}" for c in refused.harm]})


# Virtual servers ----------------------------------------------------------------------

@router.get("/virtual-servers", response=responses(list[virtual.Out]), summary="List virtual servers (viewer)")
def list_virtual_servers(request):
    check_role(request.user, VIEWER)
    servers = VirtualServer.objects.annotate(real_count=Count("real_servers")).prefetch_related("directors")
    return [virtual.out(vs) for vs in servers]


@router.post("/virtual-servers", response=responses(virtual.Out, WRITE, 201), summary="Add a virtual server (admin)")
def add_virtual_server(request, payload: virtual.In):
    check_role(request.user, ADMIN)
    return Status(201, virtual.out(virtual.save(VirtualServer(), payload, on_saved=actions.virtual_server_added)))


@router.get("/virtual-servers/{int:pk}", response=responses(virtual.Out), summary="One virtual server (viewer)")
def get_virtual_server(request, pk: int):
    check_role(request.user, VIEWER)
    return virtual.out(get_object_or_404(VirtualServer, pk=pk))


@router.patch("/virtual-servers/{int:pk}", response=responses(virtual.Out, WRITE),
              summary="Change a virtual server (admin)")
def change_virtual_server(request, pk: int, payload: virtual.In):
    check_role(request.user, ADMIN)
    vs = get_object_or_404(VirtualServer, pk=pk)
    return virtual.out(virtual.save(vs, payload, on_saved=lambda o, b: configuration_changed("virtual server edited", touched=[o.pk])))


@router.delete("/virtual-servers/{int:pk}", response=responses(None, WRITE, 204),
               summary="Delete a virtual server and its real servers (admin)")
def delete_virtual_server(request, pk: int):
    check_role(request.user, ADMIN)
    actions.delete_virtual_server(get_object_or_404(VirtualServer, pk=pk))
    return Status(204, None)


def _set_active(pk: int, active: bool) -> dict:
    try:
        return virtual.out(actions.set_virtual_active(pk, active))
    except VirtualServer.DoesNotExist:
        raise ApiError(404, {"detail": "No such virtual server."}) from None


@router.post("/virtual-servers/{int:pk}/activate", response=responses(virtual.Out, WRITE),
             summary="Activate a virtual server (operator)")
def activate_virtual_server(request, pk: int):
    check_role(request.user, OPERATOR)
    return _set_active(pk, True)


@router.post("/virtual-servers/{int:pk}/deactivate", response=responses(virtual.Out, WRITE),
             summary="Deactivate a virtual server (operator)")
def deactivate_virtual_server(request, pk: int):
    check_role(request.user, OPERATOR)
    return _set_active(pk, False)


# Health check -------------------------------------------------------------------------

@router.get("/virtual-servers/{int:pk}/check", response=responses(check.Out),
            summary="The health check of a virtual server (viewer); id 0 until first saved")
def get_check(request, pk: int):
    check_role(request.user, VIEWER)
    hc = get_object_or_404(VirtualServer, pk=pk).check_or_default()
    return {**check.out(hc), "id": hc.pk or 0}


@router.patch("/virtual-servers/{int:pk}/check", response=responses(check.Out, WRITE),
              summary="Change the health check of a virtual server (admin)")
def change_check(request, pk: int, payload: check.In):
    check_role(request.user, ADMIN)
    hc = get_object_or_404(VirtualServer, pk=pk).check_or_default()
    return check.out(check.save(hc, payload))


# Real servers -------------------------------------------------------------------------

@router.get("/virtual-servers/{int:pk}/real-servers", response=responses(list[real.Out]),
            summary="The real servers of a virtual server (viewer)")
def list_real_servers(request, pk: int):
    check_role(request.user, VIEWER)
    vs = get_object_or_404(VirtualServer, pk=pk)
    servers = list(vs.real_servers.all())
    for rs in servers:
        rs.virtual_server = vs
    return [real.out(rs) for rs in servers]


@router.post("/virtual-servers/{int:pk}/real-servers", response=responses(real.Out, WRITE, 201),
             summary="Add a real server to a virtual server (admin)")
def add_real_server(request, pk: int, payload: real.In):
    check_role(request.user, ADMIN)
    vs = get_object_or_404(VirtualServer, pk=pk)
    return Status(201, real.out(real.save(RealServer(virtual_server=vs), payload,
                                   on_saved=lambda o, b: configuration_changed("real server saved", touched=[o.virtual_server_id]))))


def _real_server(pk: int) -> RealServer:
    return get_object_or_404(RealServer.objects.select_related("virtual_server"), pk=pk)


@router.get("/real-servers/{int:pk}", response=responses(real.Out), summary="One real server (viewer)")
def get_real_server(request, pk: int):
    check_role(request.user, VIEWER)
    return real.out(_real_server(pk))


@router.patch("/real-servers/{int:pk}", response=responses(real.Out, WRITE), summary="Change a real server (admin)")
def change_real_server(request, pk: int, payload: real.In):
    check_role(request.user, ADMIN)
    rs = _real_server(pk)
    return real.out(real.save(rs, payload, on_saved=lambda o, b: configuration_changed("real server saved", touched=[o.virtual_server_id])))


@router.delete("/real-servers/{int:pk}", response=responses(None, WRITE, 204),
               summary="Delete a real server (admin); confirm=true when it is the last one serving")
def delete_real_server(request, pk: int, confirm: bool = False):
    check_role(request.user, ADMIN)
    try:
        actions.delete_real_server(_real_server(pk), confirmed=confirm)
    except actions.HarmRefused as refused:
        raise _harm_refused(refused) from None
    return Status(204, None)


def _admin_action(pk: int, action: str, confirm: bool) -> dict:
    try:
        return real.out(actions.set_real_server_state(pk, action, confirmed=confirm))
    except RealServer.DoesNotExist:
        raise ApiError(404, {"detail": "No such real server."}) from None
    except actions.HarmRefused as refused:
        raise _harm_refused(refused) from None


@router.post("/real-servers/{int:pk}/activate", response=responses(real.Out, WRITE),
             summary="Activate a real server, or cancel its drain (operator)")
def activate_real_server(request, pk: int, confirm: bool = False):
    check_role(request.user, OPERATOR)
    return _admin_action(pk, "activate", confirm)


@router.post("/real-servers/{int:pk}/deactivate", response=responses(real.Out, WRITE),
             summary="Deactivate a real server (operator); confirm=true when it is the last one serving")
def deactivate_real_server(request, pk: int, confirm: bool = False):
    check_role(request.user, OPERATOR)
    return _admin_action(pk, "deactivate", confirm)


@router.post("/real-servers/{int:pk}/drain", response=responses(real.Out, WRITE),
             summary="Drain a real server: weight 0 until its connections end (operator)")
def drain_real_server(request, pk: int, confirm: bool = False):
    check_role(request.user, OPERATOR)
    return _admin_action(pk, "drain", confirm)
