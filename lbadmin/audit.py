"""Writing the audit log.

Views call `record` with snapshots taken before and after a change; the
request (user, source IP, request id) comes from the middleware's context
variable, so code outside views (tasks, the health checker) passes an actor
name instead.
"""
import datetime
import decimal
import hashlib
import ipaddress

from django.db import models

from .middleware import client_ip, current_request
from .models import AuditEntry

# Fields that describe runtime state, not configuration: they change on their
# own and would flood the log with non-changes.
RUNTIME_FIELDS = {
    "health", "health_since", "health_reason", "health_latency_ms", "drain_started_at",
    "status", "status_reason", "status_changed_at", "created_at", "updated_at", "serial_no",
    "password", "last_login",
}
# Secrets (an alert webhook's key): the log holds a fingerprint, which shows that one
# changed, never the value.
SECRET_FIELDS = {"secret"}


def _plain(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(obj: models.Model | None) -> dict | None:
    """The configuration fields of `obj` as JSON-ready values."""
    if obj is None:
        return None
    data = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key or field.name in RUNTIME_FIELDS:
            continue
        value = _plain(getattr(obj, field.attname))
        if field.name in SECRET_FIELDS and value:
            value = "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:12]
        data[field.name] = value
    for field in obj._meta.many_to_many:
        if obj.pk:
            data[field.name] = sorted(str(o) for o in getattr(obj, field.name).all())
    return data


def via_api(token) -> str:
    """How an entry says the change came through the API, and with which token: in the
    message, which the hash chain covers (lbadmin/audit_chain.py), the AUDIT page shows and
    its text filter searches."""
    return f"via API, token {token}"


def _with_channel(message: str, request) -> str:
    token = getattr(request, "api_token", None) if request is not None else None
    if token is None:
        return message
    return f"{message} [{via_api(token)}]" if message else via_api(token)


def record(action: str, obj: models.Model | None = None, *, before: dict | None = None,
           after: dict | None = None, message: str = "", actor: str | None = None,
           object_type: str | None = None, object_repr: str | None = None,
           request=None, user=None) -> AuditEntry | None:
    """Append one entry; an update whose before equals its after writes nothing."""
    if action == "update" and before == after:
        return None
    request = request or current_request.get()
    if user is None and request is not None and getattr(request, "user", None) is not None and request.user.is_authenticated:
        user = request.user
    username = actor or (user.get_username() if user is not None else "")
    message = _with_channel(message, request)
    return AuditEntry.objects.create(
        user=user,
        username=username,
        source_ip=client_ip(request) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        action=action,
        object_type=object_type or (obj._meta.verbose_name.title().replace(" ", "") if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr or (str(obj) if obj is not None else ""))[:255],
        before=before,
        after=after,
        message=message,
    )
