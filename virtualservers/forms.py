from django import forms

from .models import HealthCheck, RealServer, VirtualServer


class VirtualServerForm(forms.ModelForm):
    class Meta:
        model = VirtualServer
        fields = ["name", "address", "vip_nmask", "device", "protocol", "port", "fwmark", "scheduler",
                  "persistent", "pmask", "forwarding", "sorry_server", "sorry_port", "quiesce_server",
                  "load_monitor", "drain_timeout", "directors"]
        labels = {"forwarding": "Forwarding method"}
        help_texts = {"forwarding": "Inherit uses the network type of GLOBAL SETTINGS."}
        widgets = {"directors": forms.CheckboxSelectMultiple}


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
