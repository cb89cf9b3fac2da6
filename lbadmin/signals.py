"""Logins and logouts go to the audit log. Failed logins are audited by the login
throttle (lbadmin/login_throttle.py): once per burst, not once per attempt. And the
signal that tells the apps above the core that applied settings changed."""
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import Signal, receiver

from . import audit


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit.record("login", user, request=request, user=user, object_type="User")


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record("logout", user, request=request, user=user, object_type="User")


# Sent inside the saving transaction when a page of this app saved something the directors
# apply (a director, the global or redundancy settings). The core cannot queue reconciles
# (that is virtualservers', above it); virtualservers listens and writes its outbox rows.
# sender: the model class; instance: what was saved.
applied_settings_saved = Signal()


def announce_applied_settings(saved, before=None) -> None:
    """Tell the apps above that `saved` changed what the directors apply (an on_saved of
    lbadmin.editing, for the pages and the API alike)."""
    applied_settings_saved.send(sender=type(saved), instance=saved)


# What an alert may report, found below monitoring (which sends the alerts): sent inside
# the transaction that records it, so the alert's outbox row commits with its cause.
# apply_failed: sender ApplyRun, run (the failed ApplyRun, saved). drift_found: sender
# Director, director, summary (the repair, as words).
apply_failed = Signal()
drift_found = Signal()
