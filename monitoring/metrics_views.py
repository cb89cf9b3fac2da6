"""GET /metrics: the Prometheus exposition (monitoring.metrics).

The one URL that needs no login session, on purpose (tests/test_access.py lists it): a
scraper cannot log in. It needs instead either an API token (`Authorization: Bearer ...`,
lbadmin.api_tokens) whose user holds the viewer role, checked by the same function as the
pages, or a client address in LBADMIN_METRICS_ALLOW. A request carrying a token is judged
by the token alone, wherever it comes from. Refusals say nothing about why beyond 401
(who are you?) or 403 (not you).
"""
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from lbadmin import api_tokens
from lbadmin.roles import VIEWER, check_role

from .metrics import scrape


def _allowed_address(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.LBADMIN_METRICS_ALLOW)


def _unauthorized() -> HttpResponse:
    response = HttpResponse("401 Unauthorized: an API token or an allowed address is needed.\n",
                            status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="lbadmin"'
    return response


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if "Authorization" in request.headers:
        token = api_tokens.from_header(request.headers["Authorization"])
        if token is None:
            return _unauthorized()
        check_role(token.user, VIEWER)  # PermissionDenied: 403, as for the pages
    elif not _allowed_address(request):
        return _unauthorized()
    # Every name is a classic one, so the text is the same in format 0.0.4, which every
    # Prometheus (and other scrapers) reads; 1.0.0 only adds UTF-8 names. Written by
    # monitoring.exposition, byte for byte prometheus_client's generate_latest, faster.
    return HttpResponse(scrape().exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
