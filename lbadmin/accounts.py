"""Accounts: what the audit log records about a user, login lockouts and TOTP devices.

The USERS pages, the password page, bootstrap_admin, createsuperuser and
changepassword all audit through here, so an account change reads the same
whichever door it came through. No password hash ever reaches the log.
"""
import base64
import datetime
from dataclasses import dataclass

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Max, Sum
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit
from .roles import ADMIN, has_role, role_of

# Failed-login entries carry the typed user name, which may be a password typed into
# the wrong field: only admins see it.
HIDDEN_NAME_ACTIONS = ("login_failed", "login_locked_out")
HIDDEN = "(hidden)"


def names_visible(user) -> bool:
    return has_role(user, ADMIN)


def user_snapshot(user: User) -> dict:
    data = audit.snapshot(user)
    for key in ("groups", "user_permissions", "date_joined", "is_staff"):
        data.pop(key, None)
    data["role"] = role_of(user)
    data["totp"] = has_totp(user)
    return data


def record_password_change(user: User, *, actor: str | None = None, message: str = "password changed") -> None:
    # "old" -> "changed": the fact, field by field, never a hash.
    audit.record("password_change", user, object_type="User", actor=actor, message=message,
                 before={"password": "old"}, after={"password": "changed"})


def check_password(password: str, username: str) -> None:
    """Django's validators (settings.AUTH_PASSWORD_VALIDATORS); raises ValidationError."""
    password_validation.validate_password(password, User(username=username))


def password_problems(password: str, username: str) -> str:
    try:
        check_password(password, username)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


# Lockouts (django-axes' AccessAttempt rows) ------------------------------------------

@dataclass
class Lockout:
    ip_address: str
    failures: int
    user_names: list[str]
    locked: bool
    ends: datetime.datetime


def current_lockouts() -> list[Lockout]:
    """Failed logins still counted (younger than the cool-off), one row per address. Reads only."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts = AccessAttempt.objects.filter(attempt_time__gte=since)
    rows = attempts.values("ip_address").annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    names: dict[str, list[str]] = {}
    for ip, name, count in attempts.values_list("ip_address", "username", "failures_since_start"):
        names.setdefault(ip, []).append(f"{name or '-'} ({count})")
    locked_pairs = set(attempts.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
                       .values_list("ip_address", flat=True))
    return [Lockout(ip_address=r["ip_address"], failures=r["failures"], user_names=sorted(names[r["ip_address"]]),
                    locked=r["ip_address"] in locked_pairs or r["failures"] >= settings.LBADMIN_LOGIN_IP_FAILURE_LIMIT,
                    ends=r["last"] + settings.AXES_COOLOFF_TIME)
            for r in rows.order_by("-last")]


def lift_lockout(ip_address: str) -> int:
    """Forget every failed login from `ip_address`; audited. Returns the failures forgotten."""
    attempts = AccessAttempt.objects.filter(ip_address=ip_address)
    failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
    if failures:
        attempts.delete()
        # The typed names stay out of this entry: viewers read it.
        audit.record("lift_lockout", None, object_type="Lockout", object_repr=ip_address,
                     before={"ip_address": ip_address, "failures": failures}, after=None,
                     message=f"lifted the login lockout of {ip_address}")
    return failures


# TOTP --------------------------------------------------------------------------------

def has_totp(user: User) -> bool:
    return user.pk is not None and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def start_totp(user: User) -> TOTPDevice:
    """A new, unconfirmed device (any earlier unconfirmed one goes): confirmed by a first code."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def pending_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def totp_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode()


def confirm_totp(user: User, device: TOTPDevice, token: str) -> bool:
    if not device.verify_token(token):
        return False
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record("totp_enrol", user, object_type="User", before={"totp": False}, after={"totp": True},
                 message="TOTP authenticator enrolled")
    return True


def remove_totp(user: User) -> bool:
    had = has_totp(user)
    TOTPDevice.objects.filter(user=user).delete()
    if had:
        audit.record("totp_remove", user, object_type="User", before={"totp": True}, after={"totp": False},
                     message="TOTP authenticator removed")
    return had


def totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()
