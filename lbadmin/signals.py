"""Logins and logouts go to the audit log. Failed logins are audited by the login
throttle (lbadmin/login_throttle.py): once per burst, not once per attempt."""
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from . import audit


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit.record("login", user, request=request, user=user, object_type="User")


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record("logout", user, request=request, user=user, object_type="User")
