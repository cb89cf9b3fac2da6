"""CONFIGURATION: export (lvs.cf, keepalived.conf, JSON backup), import, restore and templates.

Every change goes upload (or template form) -> preview -> confirm. The preview runs
the whole apply as a dry run, so it is refused for the same reasons the real apply
would be, and changes nothing. What to apply travels to the confirm step inside a
signed token (django.core.signing), together with a fingerprint of the configuration
the preview was computed from: if the configuration changed in between, confirm shows
the new preview instead of applying something the operator did not see.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from django import forms
from django.contrib import messages
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lbadmin.roles import ADMIN, VIEWER, role_required

from . import configio
from .formats import templates as config_templates
from .formats.config import Config
from .formats.keepalived import keepalived_report, render_keepalived
from .formats.lvscf import lvscf_report, render_lvscf

MAX_UPLOAD = 1024 * 1024  # 1 MiB: a few thousand virtual servers of lvs.cf
TOKEN_SALT = "lbadmin.configio.preview"
TOKEN_MAX_AGE = 3600


# --- downloads ------------------------------------------------------------------------


def _attachment(text: str, filename: str, content_type: str = "text/plain") -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _with_notes(text: str, notes: list[str]) -> str:
    """What the format could not carry, as comments at the top of the file."""
    head = "".join(f"# lbadmin note: {note}\n" for note in notes)
    return head + text


@require_GET
@role_required(VIEWER)
def config_index(request):
    config = configio.read_config()
    return render(request, "virtualservers/io/index.html", {
        "virtual_count": len(config.virtual_servers),
        "real_count": sum(len(vs.real_servers) for vs in config.virtual_servers),
        "lvscf_notes": lvscf_report(config),
        "keepalived_notes": keepalived_report(config),
    })


@require_GET
@role_required(VIEWER)
def export_lvscf(request):
    config = configio.read_config()
    return _attachment(_with_notes(render_lvscf(config, skip_unsupported=True), lvscf_report(config)), "lvs.cf")


@require_GET
@role_required(VIEWER)
def export_keepalived(request):
    config = configio.read_config()
    return _attachment(_with_notes(render_keepalived(config), keepalived_report(config)), "keepalived.conf")


@require_GET
@role_required(VIEWER)
def backup_download(request):
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return _attachment(configio.backup_text(configio.read_config()), f"lbadmin-backup-{stamp}.json", "application/json")


# --- forms ----------------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(help_text="At most 1 MiB.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {MAX_UPLOAD:,} bytes (1 MiB)."
            )
        data = upload.read(MAX_UPLOAD + 1)
        try:
            self.cleaned_data["text"] = configio.decode(data, _file_name(upload.name))
        except configio.SourceError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


def _file_name(name: str | None) -> str:
    """The uploaded file's name as shown in messages and the audit log: no path, one line."""
    name = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())[:100]
    return name or "upload"


class ImportForm(UploadForm):
    format = forms.ChoiceField(choices=[(configio.LVSCF, "lvs.cf (Piranha)"), (configio.KEEPALIVED, "keepalived.conf")])
    replace = forms.BooleanField(
        required=False, label="Replace",
        help_text="Make the configuration equal the file: overwrite existing virtual servers (and, from lvs.cf, "
                  "the global and redundancy settings) and delete virtual servers the file does not have.",
    )
    field_order = ["format", "file", "replace"]


def _address_list(text: str) -> list[str]:
    return [item for item in text.replace(",", " ").split() if item]


TEMPLATES = {
    "exchange": "Exchange 2010 CAS (443, 80, 135, 7575, 7576; direct routing, rr)",
    "web": "Web farm (HTTP 80 and HTTPS 443)",
    "dns": "DNS (UDP and TCP 53)",
}


class TemplateForm(forms.Form):
    template = forms.ChoiceField(choices=list(TEMPLATES.items()))
    name_prefix = forms.CharField(max_length=40, initial="Exchange", help_text="Names become PREFIX-443, PREFIX-http, ...")
    vip = forms.CharField(label="Virtual IP", max_length=45)
    device = forms.CharField(max_length=15, required=False, help_text="Interface the VIP is raised on, e.g. eth0:1")
    vip_nmask = forms.CharField(label="VIP netmask", max_length=39, required=False)
    addresses = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10000,
                                help_text="Real server addresses (the CAS servers), one per line or separated by commas.")
    http_path = forms.CharField(max_length=200, initial="/", required=False, help_text="Web farm: the path checked.")
    http_host = forms.CharField(max_length=200, required=False, help_text="Web farm: Host header and SNI name.")
    dns_name = forms.CharField(max_length=200, initial=".", required=False, help_text="DNS: the name queried (SOA).")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["servers"] = build_template(data)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


TEMPLATE_PARAMS = ("template", "name_prefix", "vip", "device", "vip_nmask", "addresses", "http_path", "http_host", "dns_name")


def build_template(params: dict):
    """The template's virtual servers; ValueError with a message for the operator."""
    addresses = _address_list(params["addresses"])
    common = dict(name_prefix=params["name_prefix"], vip=params["vip"], device=params.get("device") or "")
    if params["template"] == "exchange":
        return config_templates.exchange_2010_cas(
            cas_addresses=addresses, vip_nmask=params.get("vip_nmask") or "255.255.255.255", **common)
    if params["template"] == "web":
        return config_templates.web_farm(
            web_addresses=addresses, vip_nmask=params.get("vip_nmask") or "",
            http_path=params.get("http_path") or "/", http_host=params.get("http_host") or "", **common)
    if params["template"] == "dns":
        return config_templates.dns_udp(
            dns_addresses=addresses, vip_nmask=params.get("vip_nmask") or "", dns_name=params.get("dns_name") or ".", **common)
    raise ValueError(f"unknown template {params['template']!r}")


# --- the three operations: what they read, how they apply -----------------------------

OPERATIONS = {
    "import": {"title": "IMPORT", "form": "config_import", "confirm": "config_import_confirm"},
    "restore": {"title": "RESTORE", "form": "config_restore", "confirm": "config_restore_confirm"},
    "template": {"title": "TEMPLATES", "form": "config_template", "confirm": "config_template_confirm"},
}


def _fingerprint() -> str:
    return hashlib.sha256(configio.backup_text(configio.read_config()).encode()).hexdigest()


def _job_source(job: dict) -> tuple[configio.Source, bool, str]:
    """(what to apply, replace?, the name shown in messages and the audit log)."""
    op = job["op"]
    if op == "template":
        servers = build_template(job["params"])
        name = f"template {TEMPLATES[job['params']['template']].split(' (')[0]}"
        return configio.Source(Config(virtual_servers=servers), [], False), False, name
    kind = configio.BACKUP if op == "restore" else job["kind"]
    source = configio.parse_source(kind, job["text"], job["name"])
    return source, op == "restore" or bool(job.get("replace")), job["name"]


def _apply(job: dict, *, dry_run: bool) -> tuple[configio.Plan, list[str]]:
    source, replace, name = _job_source(job)
    plan = configio.apply_config(source.config, replace=replace, include_settings=source.include_settings,
                                 dry_run=dry_run, action=job["op"], source=name)
    return plan, source.warnings


def _preview(request, job: dict, plan: configio.Plan, warnings: list[str], note: str = ""):
    job = {**job, "basis": _fingerprint()}
    token = signing.dumps(job, salt=TOKEN_SALT, compress=True)
    return render(request, "virtualservers/io/preview.html", {
        "op": OPERATIONS[job["op"]], "job": job, "plan": plan, "warnings": warnings, "token": token, "note": note,
        "replace": job["op"] == "restore" or bool(job.get("replace")),
    })


def _refused(form: forms.Form, field: str | None, error: Exception) -> None:
    problems = error.problems if isinstance(error, configio.ConfigRefused) else [str(error)]
    for problem in problems:
        form.add_error(field, problem)


def _form_page(request, op: str, form: forms.Form):
    return render(request, "virtualservers/io/form.html", {"op": OPERATIONS[op], "op_name": op, "form": form})


def _upload_view(request, op: str, form_class):
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            job = {"op": op, "name": _file_name(form.cleaned_data["file"].name), "text": form.cleaned_data["text"],
                   "kind": form.cleaned_data.get("format", configio.BACKUP),
                   "replace": bool(form.cleaned_data.get("replace"))}
            try:
                plan, warnings = _apply(job, dry_run=True)
            except (configio.SourceError, configio.ConfigRefused) as exc:
                _refused(form, "file", exc)
            else:
                return _preview(request, job, plan, warnings)
    else:
        form = form_class()
    return _form_page(request, op, form)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def config_import(request):
    return _upload_view(request, "import", ImportForm)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def config_restore(request):
    return _upload_view(request, "restore", UploadForm)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def config_template(request):
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            job = {"op": "template", "params": {k: form.cleaned_data.get(k) or "" for k in TEMPLATE_PARAMS}}
            try:
                plan, warnings = _apply(job, dry_run=True)
            except configio.ConfigRefused as exc:
                _refused(form, None, exc)
            else:
                return _preview(request, job, plan, warnings)
    else:
        form = TemplateForm()
    return _form_page(request, "template", form)


def _confirm(request, op: str):
    back = reverse(OPERATIONS[op]["form"])
    try:
        job = signing.loads(request.POST.get("token", ""), salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        messages.error(request, "The preview is more than an hour old: upload the file again.")
        return redirect(back)
    except signing.BadSignature:
        messages.error(request, "Nothing was applied: the confirmation did not come from a preview of this server.")
        return redirect(back)
    if not isinstance(job, dict) or job.get("op") != op:
        messages.error(request, "Nothing was applied: the confirmation belongs to another page.")
        return redirect(back)
    try:
        if job.get("basis") != _fingerprint():
            plan, warnings = _apply(job, dry_run=True)
            return _preview(request, job, plan, warnings,
                            note="The configuration changed since the preview. Check these changes, then confirm again.")
        plan, warnings = _apply(job, dry_run=False)
    except (configio.SourceError, configio.ConfigRefused, ValueError) as exc:
        problems = exc.problems if isinstance(exc, configio.ConfigRefused) else [str(exc)]
        messages.error(request, "Nothing was applied: " + "; ".join(problems))
        return redirect(back)
    messages.success(request, f"{OPERATIONS[op]['title'].capitalize()} applied: {plan.summary_line()}.")
    return redirect("config_index")


@require_POST
@role_required(ADMIN)
def config_import_confirm(request):
    return _confirm(request, "import")


@require_POST
@role_required(ADMIN)
def config_restore_confirm(request):
    return _confirm(request, "restore")


@require_POST
@role_required(ADMIN)
def config_template_confirm(request):
    return _confirm(request, "template")

