"""The audit log, with the AUDIT page's filters (lbadmin.audit_query) and its paging."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema

from lbadmin import audit_query
from lbadmin.models import AuditEntry
from lbadmin.roles import VIEWER, check_role

from .formdata import INVALID, ApiError, form_errors
from .schemas import READ, Invalid, responses

router = Router(tags=["audit"])
PAGE_SIZE = 50


class AuditFilters(Schema):
    user: Optional[str] = None
    action: Optional[str] = None
    object_type: Optional[str] = None
    since: Optional[str] = None
    until: Optional[str] = None
    q: Optional[str] = None
    page: int = 1


class AuditEntryOut(Schema):
    id: int
    time: datetime
    username: str
    source_ip: Optional[str]
    request_id: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    before: Optional[Any]
    after: Optional[Any]
    message: str


class AuditPage(Schema):
    count: int
    page: int
    pages: int
    results: list[AuditEntryOut]


def _entry(entry: AuditEntry) -> dict:
    return {name: getattr(entry, name) for name in AuditEntryOut.model_fields}


@router.get("/audit", response=responses(AuditPage, {**READ, 422: Invalid}),
            summary="The audit log, newest first, 50 a page, with the AUDIT page's filters (viewer)")
def list_audit(request, filters: Query[AuditFilters]):
    check_role(request.user, VIEWER)
    data = {k: v for k, v in filters.dict().items() if k != "page" and v not in (None, "")}
    form, entries = audit_query.filtered(data or None, request.user)
    if form.is_bound and not form.is_valid():
        raise ApiError(422, {"detail": INVALID, "errors": form_errors(form)})
    paginator = Paginator(entries, PAGE_SIZE)
    page = paginator.get_page(filters.page)
    return {"count": paginator.count, "page": page.number, "pages": paginator.num_pages,
            "results": [_entry(e) for e in audit_query.shown(page.object_list, request.user)]}


@router.get("/audit/{int:pk}", response=responses(AuditEntryOut), summary="One audit entry (viewer)")
def get_audit_entry(request, pk: int):
    check_role(request.user, VIEWER)
    return _entry(next(audit_query.shown([get_object_or_404(AuditEntry, pk=pk)], request.user)))
