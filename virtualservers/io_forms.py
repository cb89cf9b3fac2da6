"""The CONFIGURATION page's forms: an upload (restore), an import (with its format and
replace), and the templates with their parameters."""
from __future__ import annotations

from django import forms

from . import configio
from .formats import templates as config_templates

MAX_UPLOAD = 1024 * 1024  # 1 MiB: a few thousand virtual servers of lvs.cf


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
            self.cleaned_data["text"] = configio.decode(data, file_name(upload.name))
        except configio.SourceError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


def file_name(name: str | None) -> str:
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


TEMPLATES = {
    "exchange": "Exchange 2010 CAS (443, 80, 135, 7575, 7576; direct routing, rr)",
    "web": "Web farm (HTTP 80 and HTTPS 443)",
    "dns": "DNS (UDP and TCP 53)",
}
PREFIXES = {"exchange": "Exchange", "web": "web", "dns": "dns"}
# Fields only one template has.
EXTRA_FIELDS = {"web": ("http_path", "http_host"), "dns": ("dns_name",)}


def template_of(data) -> str:
    """The template a request is about (?template= or the posted field); Exchange by default."""
    key = (data or {}).get("template") or "exchange"
    return key if key in TEMPLATES else "exchange"


class TemplateForm(forms.Form):
    """One template's form: its parameters, the real servers entered once for all its
    services, and each service's check, chosen among those the template offers."""

    name_prefix = forms.CharField(max_length=40)
    vip = forms.CharField(label="Virtual IP", max_length=45)
    device = forms.CharField(max_length=15, required=False, help_text="Interface the VIP is raised on, e.g. eth0:1")
    vip_nmask = forms.CharField(label="VIP netmask", max_length=39, required=False)
    addresses = forms.CharField(
        label="Real servers", widget=forms.Textarea(attrs={"rows": 4}), max_length=10000,
        help_text="Entered once for every service of the template: one per line, a name then its address "
                  "(CAS1 192.0.2.21), or only the address.")
    http_path = forms.CharField(max_length=200, initial="/", required=False, help_text="The path checked.")
    http_host = forms.CharField(max_length=200, required=False, help_text="Host header and SNI name.")
    dns_name = forms.CharField(max_length=200, initial=".", required=False, help_text="The name queried (SOA).")

    def __init__(self, data=None, *, template: str | None = None, **kwargs):
        super().__init__(data, **kwargs)
        # Which template is the page's (?template=, carried by a hidden input), not a field.
        self.template_key = template or template_of(data)
        self.posted_template = (data or {}).get("template", self.template_key) if data is not None else self.template_key
        key = self.template_key
        for name in ("http_path", "http_host", "dns_name"):
            if name not in EXTRA_FIELDS.get(key, ()):
                del self.fields[name]
        prefix = self.fields["name_prefix"]
        prefix.initial = PREFIXES[key]
        prefix.help_text = "Names become " + ", ".join(config_templates.service_names(key, "PREFIX")) + "."
        for service in config_templates.SERVICES[key]:
            self.fields[f"check_{service.suffix}"] = forms.ChoiceField(
                label=f"Check of PREFIX-{service.suffix}", required=False, initial=service.checks[0],
                choices=[(c, config_templates.CHECK_LABELS[c]) for c in service.checks])

    def checks(self) -> dict[str, str]:
        return {s.suffix: self.cleaned_data.get(f"check_{s.suffix}") or s.checks[0]
                for s in config_templates.SERVICES[self.template_key]}

    def params(self) -> dict:
        """The job's parameters: what build_template needs, JSON-ready."""
        data = self.cleaned_data
        return {**{k: data.get(k) or "" for k in TEMPLATE_PARAMS}, "template": self.template_key,
                "checks": self.checks()}

    def clean(self):
        data = super().clean()
        if self.posted_template not in TEMPLATES:
            raise forms.ValidationError(f"Unknown template {self.posted_template!r}.")
        if self.errors:
            return data
        try:
            data["servers"] = build_template(self.params())
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


TEMPLATE_PARAMS = ("template", "name_prefix", "vip", "device", "vip_nmask", "addresses", "http_path", "http_host", "dns_name")


def build_template(params: dict):
    """The template's virtual servers; ValueError with a message for the operator."""
    addresses = config_templates.parse_real_servers(params["addresses"])
    common = dict(name_prefix=params["name_prefix"], vip=params["vip"], device=params.get("device") or "",
                  checks=params.get("checks") or {})
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
