from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.contrib.auth.models import User
from django.db.models import Q

from . import accounts
from . import validators as v
from .http import as_id
from .models import AuditEntry, ClusterSettings, Director, RedundancyGroup, RedundancySettings
from .roles import ROLE_CHOICES


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField whose values are checked as row ids before the database
    sees them: a number too large for a row id is "not one of the available choices", as
    any other unknown id, not an overflow inside the query."""

    def _check_values(self, value):
        for item in value:
            if self.to_field_name is None and as_id(item) is None:
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                      params={"value": str(item)[:40]})
        return super()._check_values(value)


class ClusterSettingsForm(forms.ModelForm):
    class Meta:
        model = ClusterSettings
        fields = ["primary", "primary_private", "network", "nat_router_ip", "nat_nmask", "nat_router_device",
                  "tcp_timeout", "tcpfin_timeout", "udp_timeout", "expire_quiescent_template", "expire_nodest_conn", "service", "debug_level", "rsh_command",
                  "hard_shutdown", "active_cmd", "inactive_cmd", "ipvsadm_path"]


class RedundancySettingsForm(forms.ModelForm):
    class Meta:
        model = RedundancySettings
        fields = ["backup_active", "backup", "backup_private", "heartbeat", "keepalive", "deadtime",
                  "heartbeat_port", "monitor_links", "syncdaemon", "syncd_iface", "syncd_id"]


class RedundancyGroupForm(forms.ModelForm):
    class Meta:
        model = RedundancyGroup
        fields = ["name", "virtual_router_id", "interface", "advert_interval", "vrrp_version", "preempt",
                  "preempt_delay", "unicast", "track_interfaces", "sync_daemon", "sync_interface", "sync_id",
                  "garp_master_delay", "garp_master_repeat", "garp_master_refresh", "rehearse_every_days"]


class DirectorForm(forms.ModelForm):
    class Meta:
        model = Director
        fields = ["name", "address", "transport", "ssh_port", "ssh_user", "ssh_key_path", "host_key",
                  "drift_policy", "enabled", "group", "priority", "vrrp_address", "keepalived_conf",
                  "keepalived_pidfile", "state_dir"]
        widgets = {"host_key": forms.Textarea(attrs={"rows": 2, "cols": 60})}
        help_texts = {
            "priority": "1 to 254; the highest live director of the group holds the VIPs. Give the primary the "
                        "higher one (e.g. 150 and 100)",
            "keepalived_conf": "On the director: lbadmin writes this file (VRRP only), checks it with keepalived -t "
                               "and reloads keepalived",
            "keepalived_pidfile": "On the director: how lbadmin finds the running keepalived to reload it",
        }


class UserCreateForm(forms.ModelForm):
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 10 characters.")

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email"]

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password, User(username=self.data.get("username", "")))
        return password

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password"])
        if commit:
            user.save()
        return user


class UserEditForm(forms.ModelForm):
    role = forms.ChoiceField(choices=ROLE_CHOICES)

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "is_active"]


class ApiTokenForm(forms.Form):
    user = forms.ModelChoiceField(User.objects.filter(is_active=True).order_by("username"), to_field_name="username")
    name = forms.CharField(max_length=64, help_text="What it is for, e.g. prometheus: letters, digits, '_', '.', '-'.")

    def clean_name(self):
        try:
            return v.name(self.cleaned_data["name"])
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        user, name = data.get("user"), data.get("name")
        if user is not None and name and user.api_tokens.filter(name=name, revoked_at__isnull=True).exists():
            self.add_error("name", f"{user} already has a valid token named {name}.")
        return data


class AuditFilterForm(forms.Form):
    user = forms.CharField(required=False)
    action = forms.ChoiceField(required=False)
    object_type = forms.ChoiceField(required=False)
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    q = forms.CharField(required=False, label="Text")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        actions = AuditEntry.objects.order_by().values_list("action", flat=True).distinct()
        types = AuditEntry.objects.order_by().values_list("object_type", flat=True).distinct()
        self.fields["action"].choices = [("", "any")] + [(a, a) for a in sorted(set(actions))]
        self.fields["object_type"].choices = [("", "any")] + [(t, t) for t in sorted(set(types)) if t]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "Must be after 'since'.")
        return data

    def filter(self, queryset, names_visible: bool = True):
        data = self.cleaned_data
        if not names_visible and (data.get("user") or data.get("q")):
            # Searching by text must not reveal a hidden failed-login name by its count.
            queryset = queryset.exclude(action__in=accounts.HIDDEN_NAME_ACTIONS)
        if data.get("user"):
            queryset = queryset.filter(username__icontains=data["user"])
        if data.get("action"):
            queryset = queryset.filter(action=data["action"])
        if data.get("object_type"):
            queryset = queryset.filter(object_type=data["object_type"])
        if data.get("since"):
            queryset = queryset.filter(time__gte=data["since"])
        if data.get("until"):
            queryset = queryset.filter(time__lte=data["until"])
        if data.get("q"):
            text = data["q"]
            queryset = queryset.filter(
                Q(object_repr__icontains=text) | Q(message__icontains=text) | Q(request_id__icontains=text)
                | Q(before__icontains=text) | Q(after__icontains=text) | Q(username__icontains=text)
            )
        return queryset



class LoginForm(AuthenticationForm):
    """User name and password, then the 6-digit code when the account has a TOTP device.
    A wrong code counts as a failed login (the throttle sees it)."""

    otp_token = forms.CharField(label="6-digit code", required=False, max_length=8,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
                                help_text="Only if you enrolled an authenticator app.")

    def clean(self):
        data = super().clean()
        self.otp_device = accounts.totp_device(self.user_cache)
        if self.otp_device is not None and not self.otp_device.verify_token(data.get("otp_token", "").strip()):
            user_login_failed.send(sender=__name__, credentials={"username": data.get("username")}, request=self.request)
            raise ValidationError("Wrong or missing 6-digit code from your authenticator app.", code="otp")
        return data


class TotpCodeForm(forms.Form):
    otp_token = forms.CharField(label="6-digit code", max_length=8,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))
