"""CONFIGURATION: export (lvs.cf, keepalived.conf, JSON backup), import, restore and templates.

Every change goes upload (or template form) -> preview -> confirm; the jobs and their
signed tokens are in io_jobs, the forms in io_forms.
"""
from __future__ import annotations

from datetime import datetime, timezone

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lbadmin.http import partial
from lbadmin.roles import ADMIN, VIEWER, role_required

from . import configio
from .formats.keepalived import keepalived_report, render_keepalived
from .formats.lvscf import lvscf_report, render_lvscf
from .io_forms import TEMPLATES, ImportForm, TemplateForm, UploadForm, file_name, template_of
from .io_jobs import OPERATIONS, JobRefused, is_current, open_job, run_job, sign_job, template_merge
from .models import RealServer, VirtualServer


# --- downloads ------------------------------------------------------------------------


def _attachment(text: str, filename: str, content_type: str = "text/plain") -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def with_notes(text: str, notes: list[str]) -> str:
    """What the format could not carry, as comments at the top of the file."""
    head = "".join(f"# lbadmin note: {note}\n" for note in notes)
    return head + text


@require_GET
@role_required(VIEWER)
def config_index(request: HttpRequest) -> HttpResponse:
    if request.GET.get("part") == "notes":
        # What each format cannot carry needs the whole configuration read (about 50 ms
        # at 1,000 x 8, the page itself 5 ms): it follows the page instead of holding it up.
        config = configio.read_config()
        return partial(request, "virtualservers/io/_notes.html",
                       {"lvscf_notes": lvscf_report(config), "keepalived_notes": keepalived_report(config)})
    return render(request, "virtualservers/io/index.html", {
        "virtual_count": VirtualServer.objects.count(), "real_count": RealServer.objects.count()})


@require_GET
@role_required(VIEWER)
def export_lvscf(request: HttpRequest) -> HttpResponse:
    config = configio.read_config()
    return _attachment(with_notes(render_lvscf(config, skip_unsupported=True), lvscf_report(config)), "lvs.cf")


@require_GET
@role_required(VIEWER)
def export_keepalived(request: HttpRequest) -> HttpResponse:
    config = configio.read_config()
    return _attachment(with_notes(render_keepalived(config), keepalived_report(config)), "keepalived.conf")


@require_GET
@role_required(VIEWER)
def backup_download(request: HttpRequest) -> HttpResponse:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return _attachment(configio.backup_text(configio.read_config()), f"lbadmin-backup-{stamp}.json", "application/json")


# --- import, restore, templates: preview, then confirm ------------------------------


def _preview(request: HttpRequest, job: dict, plan: configio.Plan, warnings: list[str], note: str = "") -> HttpResponse:
    job, token = sign_job(job)
    # A template applied to existing services: what it would change beyond adding, each
    # replaced only if the operator ticks it here.
    merged = template_merge(job) if job["op"] == "template" else None
    differing = sorted(merged.differing.items()) if merged else []
    matched = sorted((new, old) for new, old in merged.matched.items() if new != old) if merged else []
    return render(request, "virtualservers/io/preview.html", {
        "op": OPERATIONS[job["op"]], "job": job, "plan": plan, "warnings": warnings, "token": token, "note": note,
        "replace": job["op"] == "restore" or bool(job.get("replace")), "differing": differing, "matched": matched,
    })


def _refused(form: forms.Form, field: str | None, error: Exception) -> None:
    problems = error.problems if isinstance(error, configio.ConfigRefused) else [str(error)]
    for problem in problems:
        form.add_error(field, problem)


def _form_page(request: HttpRequest, op: str, form: forms.Form, **context) -> HttpResponse:
    return render(request, "virtualservers/io/form.html", {"op": OPERATIONS[op], "op_name": op, "form": form, **context})


def _upload_view(request: HttpRequest, op: str, form_class: type[forms.Form]) -> HttpResponse:
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            job = {"op": op, "name": file_name(form.cleaned_data["file"].name), "text": form.cleaned_data["text"],
                   "kind": form.cleaned_data.get("format", configio.BACKUP),
                   "replace": bool(form.cleaned_data.get("replace"))}
            try:
                plan, warnings = run_job(job, dry_run=True)
            except (configio.SourceError, configio.ConfigRefused) as exc:
                _refused(form, "file", exc)
            else:
                return _preview(request, job, plan, warnings)
    else:
        form = form_class()
    return _form_page(request, op, form)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def config_import(request: HttpRequest) -> HttpResponse:
    return _upload_view(request, "import", ImportForm)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def config_restore(request: HttpRequest) -> HttpResponse:
    return _upload_view(request, "restore", UploadForm)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def config_template(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            job = {"op": "template", "params": form.params()}
            try:
                plan, warnings = run_job(job, dry_run=True)
            except configio.ConfigRefused as exc:
                _refused(form, None, exc)
            else:
                return _preview(request, job, plan, warnings)
    else:
        form = TemplateForm(template=template_of(request.GET))
    return _form_page(request, "template", form, templates=TEMPLATES, template_key=form.template_key)


def _confirm(request: HttpRequest, op: str) -> HttpResponse:
    back = reverse(OPERATIONS[op]["form"])
    try:
        job = open_job(request.POST.get("token", ""), op)
    except JobRefused as exc:
        messages.error(request, str(exc))
        return redirect(back)
    try:
        if not is_current(job):
            plan, warnings = run_job(job, dry_run=True)
            return _preview(request, job, plan, warnings,
                            note="The configuration changed since the preview. Check these changes, then confirm again.")
        if op == "template":
            # The services ticked in the preview, among those it listed as differing.
            job["replace_names"] = sorted(set(request.POST.getlist("replace")) & set(template_merge(job).differing))
        plan, warnings = run_job(job, dry_run=False)
    except (configio.SourceError, configio.ConfigRefused, ValueError) as exc:
        problems = exc.problems if isinstance(exc, configio.ConfigRefused) else [str(exc)]
        messages.error(request, "Nothing was applied: " + "; ".join(problems))
        return redirect(back)
    messages.success(request, f"{OPERATIONS[op]['title'].capitalize()} applied: {plan.summary_line()}.")
    return redirect("config_index")


@require_POST
@role_required(ADMIN)
def config_import_confirm(request: HttpRequest) -> HttpResponse:
    return _confirm(request, "import")


@require_POST
@role_required(ADMIN)
def config_restore_confirm(request: HttpRequest) -> HttpResponse:
    return _confirm(request, "restore")


@require_POST
@role_required(ADMIN)
def config_template_confirm(request: HttpRequest) -> HttpResponse:
    return _confirm(request, "template")

