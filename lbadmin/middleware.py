"""A request id on every request: returned as X-Request-ID, stored on audit
entries and apply runs, so one change can be followed through the logs."""
import re
import uuid
from contextvars import ContextVar

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


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
