"""The JSON API v1: one NinjaAPI, its routers (one module per subject), and how refusals
answer: always JSON with a `detail` (401 who are you?, 403 your role is too low, 404, 409
a stale version or a harm to confirm, 422 the fields and their messages)."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from lbadmin import api_tokens
from lbadmin.roles import VIEWER, has_role

from . import audit_api, config_api, directors_api, operations_api, servers_api
from .auth import ApiToken, Session
from .formdata import INVALID, ApiError

DESCRIPTION = """Everything the pages do, as JSON. Authenticate with a per-user API token
(USERS page, or `manage.py api_token create USERNAME`): `Authorization: Bearer lbat_...`.
A token can do what its user's role allows on the pages: viewer reads; operator also
activates, deactivates, drains and applies; admin also changes the configuration.
Every change is in the audit log with "via API" and the token's name.

Edits (PATCH) take the `version` you read: a change over a newer version is refused with
409 and the current object. A change that would leave an active service without a real
server is refused with 409 and its consequences unless repeated with `confirm=true`."""


def _docs_access(view):
    """The OpenAPI document and the docs page: for a token or a logged-in user of any role."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if "Authorization" in request.headers:
            row = api_tokens.from_header(request.headers["Authorization"])
            if row is None:
                return _unauthorized()
            request.user = row.user
        elif not request.user.is_authenticated:
            if request.path.endswith(".json"):
                return _unauthorized()
            return redirect_to_login(request.get_full_path())
        if not has_role(request.user, VIEWER):
            return JsonResponse({"detail": "This needs the viewer role."}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


class Api(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        # The function's name (unique across the routers): what a generated client calls it.
        return operation.view_func.__name__


api = Api(title="lbadmin API", version="1", description=DESCRIPTION, urls_namespace="api-v1",
          auth=[ApiToken(), Session()], docs_decorator=_docs_access)

for module in (servers_api, directors_api, operations_api, audit_api, config_api):
    api.add_router("", module.router)


def _unauthorized(detail: str = "An API token is needed: Authorization: Bearer lbat_... "
                                "(a missing, unknown or revoked token, or an inactive user).") -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="lbadmin"'
    return response


@api.exception_handler(AuthenticationError)
def _authentication(request, exc):
    return _unauthorized()


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Your role does not allow this."}, status=403)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return api.create_response(request, exc.body, status=exc.status)


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    """Malformed JSON or a value of the wrong type: the same shape as the form's messages."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "query", "path")]
        errors.setdefault(".".join(location) or "__all__", []).append(error.get("msg", "invalid"))
    return api.create_response(request, {"detail": INVALID, "errors": errors}, status=422)


def urlpatterns_without_login(patterns: list) -> list:
    """The API's URLs answer 401 JSON themselves (or, for the docs page, send a browser to
    log in): the pages' LoginRequiredMiddleware, which redirects, stands aside for them."""
    for pattern in patterns:
        pattern.callback.login_required = False
    return patterns
