from django import forms
from django.core.exceptions import ValidationError

from lbadmin.forms import IdsChoiceField

from .formats import validate as rules
from .formats.choices import (CHECK_TIMING_FIELDS, CHECK_TYPE_CHOICES, SCHED_FLAG_CHOICES, check_type_fields,
                              values)
from .models import HealthCheck, RealServer, VirtualServer


class SchedFlagsWidget(forms.CheckboxSelectMultiple):
    """Checkboxes that name the scheduler they belong to, so the page offers only the
    chosen scheduler's flags (static/js/lbadmin.js); the model refuses the others."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"]["data-scheduler"] = str(value).split("-")[0]
        return option


class VirtualServerForm(forms.ModelForm):
    sched_flags = forms.MultipleChoiceField(
        label="Scheduler flags", required=False, choices=SCHED_FLAG_CHOICES, widget=SchedFlagsWidget,
        help_text="Only source hashing (sh) and Maglev hashing (mh) read flags, each its own.")

    class Meta:
        model = VirtualServer
        fields = ["name", "address", "vip_nmask", "device", "protocol", "port", "fwmark", "scheduler",
                  "sched_flags", "persistent", "pmask", "forwarding", "sorry_server", "sorry_port", "quiesce_server",
                  "load_monitor", "drain_timeout", "directors"]
        labels = {"forwarding": "Forwarding method"}
        help_texts = {"forwarding": "Inherit uses the network type of GLOBAL SETTINGS."}
        widgets = {"directors": forms.CheckboxSelectMultiple}
        field_classes = {"directors": IdsChoiceField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["sched_flags"] = rules.split_sched_flags(self.initial.get("sched_flags", ""))
        if self.instance.pk is None:
            # A new virtual server has no real server yet: it is added inactive unless the
            # operator says otherwise (the API's clients add all in one go); later the
            # list's ACTIVATE / DEACTIVATE say it.
            self.fields["active"] = forms.BooleanField(
                required=False, initial=False, label="Active",
                help_text="Ticked: applied to the directors at once, with the real servers it has (none yet). "
                          "Unticked: added inactive, to ACTIVATE from the list once its real servers are in.")

    def clean(self):
        cleaned = super().clean()
        if "active" in self.fields:
            self.instance.active = bool(cleaned.get("active"))
        return cleaned

    def clean_sched_flags(self) -> str:
        # Stored as text in a fixed order; the model checks them against the scheduler.
        try:
            return rules.validate_sched_flags(self.cleaned_data["sched_flags"])
        except ValueError as exc:  # a flag posted twice (found by the API's schemathesis run)
            raise ValidationError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None


class RealServerForm(forms.ModelForm):
    class Meta:
        model = RealServer
        fields = ["name", "address", "port", "weight", "forwarding", "check_address", "check_port"]
        labels = {"forwarding": "Forwarding override"}

    def __init__(self, *args, virtual_server: VirtualServer, **kwargs):
        super().__init__(*args, **kwargs)
        # Set before validation so the model's rules can compare families
        # and look for duplicates within this virtual server.
        self.instance.virtual_server = virtual_server
        self.fields["port"].widget.attrs["placeholder"] = str(virtual_server.port)
        if self.instance.pk is None:
            # A new real server takes traffic unless the operator says otherwise, as in
            # Piranha (active = 1); later the list's ACTIVATE / DEACTIVATE / DRAIN say it.
            self.fields["active"] = forms.BooleanField(
                required=False, initial=True, label="Active",
                help_text="Ticked: in the IPVS table as soon as its check passes (lvs.cf active = 1). "
                          "Unticked: added inactive, to ACTIVATE from the list later.")
            self.order_fields(["name", "address", "port", "weight", "active"])

    def clean(self):
        cleaned = super().clean()
        if "active" in self.fields:
            states = RealServer.AdminState
            self.instance.admin_state = states.ENABLED if cleaned.get("active") else states.DISABLED
        return cleaned


# What each field of the check is called in the formats lbadmin reads and writes, where
# that differs (formats/lvscf.py and formats/keepalived.py do the mapping). Piranha had one
# "timeout" for the interval and the time a check may take; lbadmin has two.
CHECK_FIELD_MAPPING = {
    "check_type": "lvs.cf knows TCP connect, send/expect and a sending program (other types export as a TCP "
                  "connect); keepalived: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK, UDP_CHECK, "
                  "PING_CHECK (None: no checker).",
    "interval": "Seconds from one check to the next. Piranha's timeout: lvs.cf timeout = 30 is interval 30 "
                "(and timeout 30) here, and the lvs.cf export writes the interval as timeout. keepalived: "
                "delay_loop and delay_before_retry.",
    "timeout": "Seconds one check may take before it counts as failed. Not Piranha's timeout (that is the "
               "interval): lvs.cf has no place for it. keepalived: connect_timeout (misc_timeout for a program).",
    "rise": "Successes in a row before a server comes back. lvs.cf: reentry = rise × interval seconds; "
            "keepalived: none (a server comes back on its first success).",
    "fall": "Failures in a row before a server is taken out. lvs.cf: none (nanny took a server out at the "
            "first failure); keepalived: retry = fall − 1.",
    "initial_state": "What a server is before its first checks. keepalived: Down is alpha; lvs.cf: none "
                     "(nanny started every server up).",
    "slow_start": "Ramp back to full weight over this time (ipvsadm -e raises the weight); 0 = at once. "
                  "Not in lvs.cf or keepalived.",
    "send_program": "%h is the real server's address, %p its port. lvs.cf: send_program; keepalived: "
                    "MISC_CHECK misc_path (%h %p filled in per real server).",
    "send": "Escapes \\r \\n \\t \\\\ are understood. lvs.cf: send; keepalived: UDP_CHECK payload (TCP_CHECK "
            "sends nothing).",
    "expect": "'*' accepts any reply. lvs.cf: expect; keepalived: UDP_CHECK require_reply (TCP_CHECK "
              "reads nothing).",
    "use_regex": "lvs.cf: use_regex; keepalived: an HTTP body pattern becomes url { regex }.",
    "http_method": "keepalived checks with GET only; not in lvs.cf.",
    "http_path": "keepalived: url { path }; not in lvs.cf.",
    "http_host": "Blank: the real server's address. keepalived: virtualhost; not in lvs.cf.",
    "http_status": "200, 200-399 or 200,301-302. keepalived: url { status_code }; not in lvs.cf.",
    "http_body": "A substring (or a regex) the body must contain. keepalived: url { regex }; not in lvs.cf.",
    "verify_tls": "keepalived's SSL_GET does not verify certificates; not in lvs.cf.",
    "sni": "Blank: the Host header's name. keepalived: enable_sni and sni_name; not in lvs.cf.",
    "dns_name": "keepalived: DNS_CHECK name; not in lvs.cf.",
    "dns_type": "keepalived: DNS_CHECK type; not in lvs.cf.",
    "dns_expect": "One answer must equal it (or match it, as a regex). keepalived: not written (DNS_CHECK "
                  "only checks that an answer comes); not in lvs.cf.",
}


# What "treat ... as a regular expression" applies to, for the types where it is not expect.
REGEX_OF = {"http": "body contains", "https": "body contains", "dns": "DNS expect"}


class HealthCheckForm(forms.ModelForm):
    """The check type, the fields that type reads and the timing: nothing else.

    Which fields a type reads comes from one table (formats/choices.py CHECK_TYPE_FIELDS).
    The other types' fields are not form fields: a post neither changes nor validates
    them, they stay as saved. They ride along as hidden inputs (`kept`), so that switching
    the type, with HTMX or the plain SHOW FIELDS button, shows them as they were.
    """

    SWITCH = "_switch_type"  # the plain submit that redraws the form for another type

    class Meta:
        model = HealthCheck
        fields = ["check_type", "send_program", "send", "expect", "use_regex", "interval", "timeout", "rise",
                  "fall", "initial_state", "slow_start", "http_method", "http_path", "http_host", "http_status",
                  "http_body", "verify_tls", "sni", "dns_name", "dns_type", "dns_expect"]
        help_texts = CHECK_FIELD_MAPPING

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_type = self._chosen_type()
        shown = {"check_type", *CHECK_TIMING_FIELDS, *check_type_fields(self.check_type)}
        if "use_regex" in self.fields and self.check_type in REGEX_OF:
            self.fields["use_regex"].label = f"treat {REGEX_OF[self.check_type]} as a regular expression"
        self.kept: dict[str, object] = {}
        self.kept_labels: dict[str, str] = {}
        for name in [n for n in self.fields if n not in shown]:
            field = self.fields.pop(name)
            self.kept[name] = self.data[name] if self.is_bound and name in self.data else self.initial.get(name)
            self.kept_labels[name] = field.label

    def _chosen_type(self) -> str:
        known = values(CHECK_TYPE_CHOICES)
        chosen = self.data.get("check_type") if self.is_bound else self.initial.get("check_type")
        return chosen if chosen in known else (self.instance.check_type or known[0])

    @property
    def type_label(self) -> str:
        return dict(CHECK_TYPE_CHOICES)[self.check_type]

    def type_fields(self):
        return [self[name] for name in check_type_fields(self.check_type)]

    def timing_fields(self):
        return [self[name] for name in CHECK_TIMING_FIELDS]

    def kept_inputs(self) -> list[tuple[str, object]]:
        return [(name, "" if value is None else value) for name, value in self.kept.items()]

    def kept_notes(self) -> list[tuple[str, object]]:
        """(label, value) of the kept fields that hold something other than their default."""
        notes = []
        for name, value in self.kept.items():
            default = HealthCheck._meta.get_field(name).default
            if str(value) != str(default) and value not in ("", None) and not (value == "False" and default is False):
                notes.append((self.kept_labels[name], value))
        return notes

    def add_error(self, field, error):
        # The model's rules look at every field; a kept one is not this form's to judge.
        if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            mine = {name: e for name, e in error.error_dict.items() if name not in self.kept}
            if not mine:
                return
            error = ValidationError(mine)
        super().add_error(field, error)

    @classmethod
    def redrawn(cls, request, *, instance) -> "HealthCheckForm | None":
        """The form drawn again for another check type, unsaved and without errors: for a
        GET naming check_type (HTMX swaps the type's fields) or a POST of SHOW FIELDS.
        None when the request asks for anything else."""
        if request.method == "POST" and cls.SWITCH in request.POST:
            data = request.POST
        elif request.method == "GET" and "check_type" in request.GET:
            data = request.GET
        else:
            return None
        bound = cls(data, instance=instance)
        initial = {name: bound[name].value() for name in bound.fields}
        initial.update((name, value) for name, value in bound.kept.items() if value is not None)
        return cls(initial=initial, instance=instance)
