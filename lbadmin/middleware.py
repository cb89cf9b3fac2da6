"""A request id on every request: returned as X-Request-ID, stored on audit
entries and apply runs, so one change can be followed through the logs."""
import re
import time
import uuid
from contextvars import ContextVar

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

current_request: ContextVar = ContextVar("current_request", default=None)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request.request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class IdleSessionMiddleware:
    """Django expires a session SESSION_COOKIE_AGE after its last save (in the database and
    in the cookie's Max-Age). Saving a logged-in session on activity makes that an idle
    timeout; saving at most once a minute spares a database write on every HTMX poll
    (SESSION_SAVE_EVERY_REQUEST would write on each)."""

    TOUCH_EVERY = 60  # seconds: the timeout's precision

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        now = int(time.time())
        if SESSION_KEY in session and now - session.get(LAST_TOUCH, 0) >= self.TOUCH_EVERY:
            session[LAST_TOUCH] = now
        return self.get_response(request)


LAST_TOUCH = "_last_touch"


@receiver(user_logged_in, dispatch_uid="lbadmin-session-touch")
def _touched_at_login(sender, request, user, **kwargs):
    # The login saves the session anyway: the first request after it need not save it again.
    request.session[LAST_TOUCH] = int(time.time())


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
