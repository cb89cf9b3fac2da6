"""With LBADMIN_REQUIRE_TOTP_FOR_ADMINS, an admin's session counts only with a second factor:
an admin without an authenticator is sent to enrol before anything else, and a session
not verified by a code (e.g. one opened before the device existed) is ended."""
from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from . import accounts
from .roles import ADMIN, has_role

# What an admin may still reach before enrolling.
ENROL_VIEWS = {"totp", "totp_start", "totp_confirm", "logout", "login"}


class RequireTotpForAdmins:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if not (settings.LBADMIN_REQUIRE_TOTP_FOR_ADMINS and has_role(user, ADMIN)):
            return self.get_response(request)
        if not accounts.has_totp(user):
            if _view_name(request) not in ENROL_VIEWS:
                return redirect("totp")  # the page says why
        elif not user.is_verified():
            logout(request)
            return redirect("login")
        return self.get_response(request)


def _view_name(request) -> str | None:
    try:
        return resolve(request.path_info).url_name
    except Resolver404:
        return None
