"""The changes that the pages' buttons and the API both make: (de)activate a virtual
server, activate, deactivate or drain a real server, add or delete either. Each is one
transaction with its audit entry and its reconcile request; the callers only say who asked
and how to answer (a row, a redirect, JSON)."""
from __future__ import annotations

from django.db import transaction

from lbadmin import audit

from .blast_radius import Consequence, consequences
from .models import HealthCheck, RealServer, VirtualServer
from .tasks import configuration_changed


class HarmRefused(Exception):
    """The change would leave an active service without a real server and was not
    confirmed: nothing was changed. `harm` says what would happen."""

    def __init__(self, rs: RealServer, action: str, harm: list[Consequence]):
        super().__init__("; ".join(c.outcome for c in harm))
        self.rs, self.action, self.harm = rs, action, harm


def set_virtual_active(pk: int, active: bool | None = None) -> VirtualServer:
    """Activate or deactivate (None: toggle) the virtual server; audited only when it
    changes. VirtualServer.DoesNotExist when there is none."""
    with transaction.atomic():
        vs = VirtualServer.objects.select_for_update().get(pk=pk)
        wanted = (not vs.active) if active is None else active
        if vs.active != wanted:
            before = audit.snapshot(vs)
            vs.active = wanted
            vs.save(update_fields=["active", "updated_at"])
            audit.record("activate" if vs.active else "deactivate", vs, before=before, after=audit.snapshot(vs))
            configuration_changed("virtual server (de)activated", touched=[vs.pk])
    return vs


def set_real_server_state(rs_pk: int, action: str | None, *, confirmed: bool,
                          virtual_server_pk: int | None = None) -> RealServer:
    """activate, deactivate or drain (None: the toggle decides), audited, then reconciled.
    HarmRefused unless confirmed when it leaves an active service without a real server;
    RealServer.DoesNotExist when there is none (in that virtual server, if given)."""
    rows = RealServer.objects.select_for_update().select_related("virtual_server")
    if virtual_server_pk is not None:
        rows = rows.filter(virtual_server_id=virtual_server_pk)
    with transaction.atomic():
        rs = rows.get(pk=rs_pk)
        before = audit.snapshot(rs)
        action = action or rs.toggle_action()
        harm = consequences(action, [rs])
        if harm and not confirmed:
            raise HarmRefused(rs, action, harm)
        rs.set_admin_state(action)
        rs.save(update_fields=["admin_state", "drain_started_at"])
        audit.record(action, rs, before=before, after=audit.snapshot(rs))
        configuration_changed(f"real server {action}", touched=[rs.virtual_server_id])
    return rs


def virtual_server_added(vs: VirtualServer, before: dict | None) -> None:
    """on_saved of a new virtual server: its default check, and the apply."""
    HealthCheck.objects.create(virtual_server=vs)
    configuration_changed("virtual server added", touched=[vs.pk])


def delete_virtual_server(vs: VirtualServer) -> None:
    with transaction.atomic():
        audit.record("delete", vs, before=audit.snapshot(vs))
        touched = [vs.pk]  # before delete() clears it
        vs.delete()
        configuration_changed("virtual server deleted", touched=touched)


def delete_real_server(rs: RealServer, *, confirmed: bool) -> None:
    """HarmRefused unless confirmed when it leaves an active service without a real server."""
    harm = consequences("delete", [rs])
    if harm and not confirmed:
        raise HarmRefused(rs, "delete", harm)
    with transaction.atomic():
        audit.record("delete", rs, before=audit.snapshot(rs))
        rs.delete()
        configuration_changed("real server deleted", touched=[rs.virtual_server_id])
