"""Import, restore and templates as jobs: upload (or template form) -> preview -> confirm.

A job is a small dict (which operation, the file's text or the template's parameters).
The preview runs the whole apply as a dry run, so it is refused for the same reasons the
real apply would be, and changes nothing. The job travels to the confirm step inside a
signed token (django.core.signing), together with a fingerprint of the configuration the
preview was computed from: if the configuration changed in between, confirm shows the
new preview instead of applying something the operator did not see.
"""
from __future__ import annotations

import hashlib

from django.core import signing

from . import configio
from .formats.config import Config
from .formats.templates import Merge, merge
from .io_forms import TEMPLATES, build_template

TOKEN_SALT = "lbadmin.configio.preview"
TOKEN_MAX_AGE = 3600


class JobRefused(Exception):
    """A confirmation that cannot be trusted or used; the message is for the operator."""


OPERATIONS = {
    "import": {"title": "IMPORT", "form": "config_import", "confirm": "config_import_confirm"},
    "restore": {"title": "RESTORE", "form": "config_restore", "confirm": "config_restore_confirm"},
    "template": {"title": "TEMPLATES", "form": "config_template", "confirm": "config_template_confirm"},
}


def fingerprint() -> str:
    return hashlib.sha256(configio.backup_text(configio.read_config()).encode()).hexdigest()


def job_source(job: dict) -> tuple[configio.Source, bool, str]:
    """(what to apply, replace?, the name shown in messages and the audit log)."""
    op = job["op"]
    if op == "template":
        # Applied to what exists: the whole resulting set, written in replace mode, so the
        # services the template does not touch are written back unchanged.
        current = configio.read_config()
        merged = template_merge(job, current)
        name = f"template {TEMPLATES[job['params']['template']].split(' (')[0]}"
        result = Config(cluster=current.cluster, redundancy=current.redundancy, virtual_servers=merged.servers)
        return configio.Source(result, [], False), True, name
    kind = configio.BACKUP if op == "restore" else job["kind"]
    source = configio.parse_source(kind, job["text"], job["name"])
    return source, op == "restore" or bool(job.get("replace")), job["name"]


def template_merge(job: dict, current: Config | None = None) -> Merge:
    """The template of a job applied to the configuration; `replace` (names of existing
    virtual servers the operator chose in the preview) are overwritten."""
    current = current or configio.read_config()
    return merge(current.virtual_servers, build_template(job["params"]), job.get("replace_names", ()))


def run_job(job: dict, *, dry_run: bool) -> tuple[configio.Plan, list[str]]:
    source, replace, name = job_source(job)
    plan = configio.write_config(source.config, replace=replace, include_settings=source.include_settings,
                                 dry_run=dry_run, action=job["op"], source=name)
    return plan, source.warnings


def sign_job(job: dict) -> tuple[dict, str]:
    """The job stamped with the configuration it was previewed against, and its token."""
    job = {**job, "basis": fingerprint()}
    return job, signing.dumps(job, salt=TOKEN_SALT, compress=True)


def open_job(token: str, op: str) -> dict:
    """The job a preview signed for this operation; JobRefused otherwise."""
    try:
        job = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise JobRefused("The preview is more than an hour old: upload the file again.") from None
    except signing.BadSignature:
        raise JobRefused("Nothing was applied: the confirmation did not come from a preview of this server.") from None
    if not isinstance(job, dict) or job.get("op") != op:
        raise JobRefused("Nothing was applied: the confirmation belongs to another page.")
    return job


def is_current(job: dict) -> bool:
    """Was the configuration unchanged since the job's preview?"""
    return job.get("basis") == fingerprint()
