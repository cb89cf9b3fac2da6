"""The alert destination form: a mail destination needs addresses, a webhook an http(s)
URL and a secret; a saved secret is never sent back to the browser (left blank: kept)."""
from django import forms
from django.core.validators import validate_email

from .alerts_kinds import EVENT_CHOICES
from .alerts_models import AlertDestination
from .alerts_send import url_problem

MIN_SECRET = 16


class AlertDestinationForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple,
                                       help_text="What is sent here.")
    secret = forms.CharField(required=False, max_length=200, widget=forms.PasswordInput(render_value=False),
                             help_text=f"Webhook: at least {MIN_SECRET} characters; the receiver checks the "
                                       "X-Lbadmin-Signature header with it (README.md, Alerts). Never shown "
                                       "again: leave blank to keep the saved one.")

    class Meta:
        model = AlertDestination
        fields = ["name", "kind", "enabled", "events", "virtual_servers", "to_addresses", "url", "secret"]
        widgets = {"to_addresses": forms.Textarea(attrs={"rows": 3, "cols": 50}),
                   "url": forms.TextInput(attrs={"size": 60}),
                   "virtual_servers": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.secret:
            self.fields["secret"].help_text = f"Saved: {self.instance.secret_hint()}. " + \
                "Leave blank to keep it; type a new one to replace it."

    def clean_to_addresses(self):
        value = self.cleaned_data["to_addresses"]
        for address in AlertDestination(to_addresses=value).recipients():
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"{address!r} is not a mail address.") from None
        return value

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        problem = url_problem(url) if url else ""
        if problem:
            raise forms.ValidationError(f"Not a webhook URL: {problem}.")
        return url

    def clean_secret(self):
        secret = self.cleaned_data["secret"]
        if not secret:
            return self.instance.secret  # kept
        if len(secret) < MIN_SECRET:
            raise forms.ValidationError(f"At least {MIN_SECRET} characters.")
        return secret

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == AlertDestination.Kind.EMAIL and not AlertDestination(to_addresses=data.get("to_addresses", "")).recipients() \
                and "to_addresses" not in self.errors:
            self.add_error("to_addresses", "A mail destination needs at least one address.")
        if kind == AlertDestination.Kind.WEBHOOK:
            if not data.get("url") and "url" not in self.errors:
                self.add_error("url", "A webhook needs a URL.")
            if not data.get("secret") and "secret" not in self.errors:
                self.add_error("secret", "A webhook needs a secret to sign its messages with.")
        return data
