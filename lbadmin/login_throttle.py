"""Login throttling: django-axes' database handler with two limits and one audit entry per burst.

axes counts failures per lockout parameter, (user name, address) and address, against
one limit. An address gets its own, higher limit (settings.LBADMIN_LOGIN_IP_FAILURE_LIMIT),
so one client spraying many user names is stopped too. The audit log gets the first
failure of a (user name, address) and the lockout, not every attempt: a flood from
one address writes a handful of rows, not one per guess.
"""
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.db.models import Sum

from . import audit


class LoginThrottle(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        pair, address = (qs.aggregate(n=Sum("failures_since_start"))["n"] or 0
                         for qs in self.get_user_attempts(request, credentials))
        if address >= settings.LBADMIN_LOGIN_IP_FAILURE_LIMIT:
            return max(pair, settings.AXES_FAILURE_LIMIT)
        return pair

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        # Failures during a lockout are refused before counting (AXES_RESET_COOL_OFF_ON_
        # FAILURE_DURING_LOCKOUT = False): they store nothing and audit nothing.
        was_locked = bool(getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None or was_locked:
            return
        name = str(get_client_username(request, credentials) or "")[:150]
        if request.axes_locked_out:
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            audit.record("login_locked_out", None, request=request, actor=name, object_type="User",
                         object_repr=name, message=f"too many failed logins: refused for {minutes} minutes "
                                                   "after the last one, or until an admin lifts it (USERS)")
        elif request.axes_failures_since_start == 1:
            audit.record("login_failed", None, request=request, actor=name, object_type="User",
                         object_repr=name, message="wrong user name, password or code "
                                                   "(further failures are counted, not logged one by one)")
