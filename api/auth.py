"""Who calls the API: an API token (`Authorization: Bearer lbat_...`, lbadmin.api_tokens),
or, for the browser's interactive docs, the logged-in session, whose unsafe requests then
need the CSRF token as every form does. The caller's role is checked per operation by
lbadmin.roles, as for the pages."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from lbadmin import api_tokens


class ApiToken(HttpBearer):
    """The token stands for its user: request.user is that user, and request.api_token
    the token, which lbadmin.audit names on every change made with it."""

    def authenticate(self, request: HttpRequest, token: str):
        row = api_tokens.from_header(request.headers.get("Authorization"))
        if row is None:
            return None
        request.user = row.user
        request.api_token = row
        return row


class Session(APIKeyCookie):
    """The login session of the pages (the docs' "Try it out"). A request without one is
    not refused here for a missing CSRF token: it goes on to 401 (who are you?)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)  # checks CSRF for unsafe methods: 403 without it

    def authenticate(self, request: HttpRequest, key: str | None):
        return request.user
