"""Configuration in and out: lvs.cf and keepalived.conf exports, the JSON backup, import
and restore. The same jobs as the CONFIGURATION page (virtualservers.io_jobs): a dry run
is the page's preview, refused for the same reasons as the apply; `basis` plays the page's
signed preview token: an apply whose basis is no longer the configuration's is refused (409)."""
from __future__ import annotations

import json
from typing import Any, Literal, Optional

from django.http import HttpResponse
from ninja import Router, Schema
from pydantic import Field

from lbadmin.roles import ADMIN, VIEWER, check_role
from virtualservers import configio
from virtualservers.formats.keepalived import keepalived_report, render_keepalived
from virtualservers.formats.lvscf import lvscf_report, render_lvscf
from virtualservers.io_forms import MAX_UPLOAD, file_name
from virtualservers.io_jobs import fingerprint, run_job
from virtualservers.io_views import with_notes

from .formdata import ApiError
from .schemas import READ, WRITE, responses

router = Router(tags=["configuration"])

TEXT = {"200": {"description": "The file", "content": {"text/plain": {"schema": {"type": "string"}}}}}


class ImportIn(Schema):
    format: Literal["lvscf", "keepalived"] = Field(description="lvscf: Piranha's lvs.cf; keepalived: keepalived.conf")
    text: str = Field(max_length=MAX_UPLOAD, description="The file's content (at most 1 MiB)")
    name: str = Field("api", max_length=100, description="The file's name, for messages and the audit log")
    replace: bool = Field(False, description="Make the configuration equal the file (deletes what it lacks)")
    dry_run: bool = Field(False, description="Only say what would change (the page's preview)")
    basis: Optional[str] = Field(None, description="The basis a dry run returned: refused (409) if the "
                                                   "configuration changed since")


class RestoreIn(Schema):
    backup: Any = Field(description="The JSON backup (GET /config/backup), as an object or as its text")
    name: str = Field("api", max_length=100)
    dry_run: bool = False
    basis: Optional[str] = None


class PlanOut(Schema):
    dry_run: bool
    summary: str
    counts: dict[str, int]
    changes: list[str]
    warnings: list[str]
    basis: str = Field(description="The configuration's fingerprint: the one previewed (dry run) or the new one")


def _text(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get("/config/export/lvs.cf", response=READ, openapi_extra={"responses": TEXT},
            summary="The configuration as Piranha's lvs.cf (viewer)")
def export_lvscf(request):
    check_role(request.user, VIEWER)
    config = configio.read_config()
    return _text(with_notes(render_lvscf(config, skip_unsupported=True), lvscf_report(config)), "lvs.cf")


@router.get("/config/export/keepalived.conf", response=READ, openapi_extra={"responses": TEXT},
            summary="The configuration as keepalived.conf (viewer)")
def export_keepalived(request):
    check_role(request.user, VIEWER)
    config = configio.read_config()
    return _text(with_notes(render_keepalived(config), keepalived_report(config)), "keepalived.conf")


@router.get("/config/backup", response=responses(dict[str, Any]),
            summary="The JSON backup of the whole configuration (viewer): POST it to /config/restore")
def backup(request):
    check_role(request.user, VIEWER)
    return json.loads(configio.backup_text(configio.read_config()))


def _run(job: dict, dry_run: bool, basis: str | None) -> dict:
    if len(job["text"]) > MAX_UPLOAD:
        raise ApiError(422, {"detail": "Nothing was applied.", "errors": {
            "text": [f"The file is {len(job['text']):,} characters; the limit is {MAX_UPLOAD:,} (1 MiB)."]}})
    if not dry_run and basis is not None and basis != fingerprint():
        raise ApiError(409, {"detail": "Nothing was applied: the configuration changed since the dry run whose "
                                       "basis you sent. Look at a new dry run, then apply with its basis."})
    try:
        plan, warnings = run_job(job, dry_run=dry_run)
    except (configio.SourceError, configio.ConfigRefused, ValueError) as exc:
        problems = exc.problems if isinstance(exc, configio.ConfigRefused) else [str(exc)]
        raise ApiError(422, {"detail": "Nothing was applied.", "errors": {"text": problems}}) from None
    return {"dry_run": dry_run, "summary": plan.summary_line(), "counts": plan.counts(),
            "changes": [str(change) for change in plan.changes], "warnings": warnings, "basis": fingerprint()}


@router.post("/config/import", response=responses(PlanOut, WRITE),
             summary="Import lvs.cf or keepalived.conf (admin); dry_run=true previews")
def import_config(request, payload: ImportIn):
    check_role(request.user, ADMIN)
    job = {"op": "import", "name": file_name(payload.name), "text": payload.text, "kind": payload.format,
           "replace": payload.replace}
    return _run(job, payload.dry_run, payload.basis)


@router.post("/config/restore", response=responses(PlanOut, WRITE),
             summary="Restore a JSON backup (admin): the configuration becomes the backup's; dry_run=true previews")
def restore_config(request, payload: RestoreIn):
    check_role(request.user, ADMIN)
    text = payload.backup if isinstance(payload.backup, str) else json.dumps(payload.backup)
    job = {"op": "restore", "name": file_name(payload.name), "text": text}
    return _run(job, payload.dry_run, payload.basis)
