from django import forms

from .formats import validate as rules
from .formats.choices import SCHED_FLAG_CHOICES
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["sched_flags"] = rules.split_sched_flags(self.initial.get("sched_flags", ""))

    def clean_sched_flags(self) -> str:
        # Stored as text in a fixed order; the model checks them against the scheduler.
        return rules.validate_sched_flags(self.cleaned_data["sched_flags"])


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


class HealthCheckForm(forms.ModelForm):
    class Meta:
        model = HealthCheck
        fields = ["check_type", "send_program", "send", "expect", "use_regex", "interval", "timeout", "rise",
                  "fall", "initial_state", "slow_start", "http_method", "http_path", "http_host", "http_status",
                  "http_body", "verify_tls", "sni", "dns_name", "dns_type", "dns_expect"]
