"""Logins, logouts and failed logins go to the audit log."""
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from . import audit


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit.record("login", user, request=request, user=user, object_type="User")


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record("logout", user, request=request, user=user, object_type="User")


@receiver(user_login_failed)
def audit_failed_login(sender, credentials, request=None, **kwargs):
    # The attempted name is kept as text only: it may not be a real account.
    name = str(credentials.get("username", ""))[:150]
    audit.record("login_failed", None, request=request, actor=name, object_type="User",
                 object_repr=name, message="wrong user name or password")
