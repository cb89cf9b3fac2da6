"""The history panel of a virtual server and of a real server: a page of its own, and the
partial that the VIRTUAL SERVER and REAL SERVER pages load into themselves with HTMX
(virtualservers cannot import monitoring, so the panel comes from here)."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET

from lbadmin.http import page_or_partial
from lbadmin.roles import VIEWER, role_required
from virtualservers.models import RealServer, VirtualServer

from .history import SeriesRef
from .history_page import history_context


def _panel(request: HttpRequest, context: dict) -> HttpResponse:
    return page_or_partial(request, "monitoring/history.html", "monitoring/_history.html", context)


@require_GET
@role_required(VIEWER)
def virtual_history(request: HttpRequest, pk: int) -> HttpResponse:
    vs = get_object_or_404(VirtualServer, pk=pk)
    real_servers = list(vs.real_servers.order_by("name"))
    return _panel(request, {"vs": vs, "tab": "virtual", "subject": f"virtual server {vs.name}",
                            "url": reverse("history_virtual", args=[vs.pk]),
                            **history_context(SeriesRef.of_virtual(vs), real_servers, request.GET.get("range", ""))})


@require_GET
@role_required(VIEWER)
def real_history(request: HttpRequest, rs_pk: int) -> HttpResponse:
    rs = get_object_or_404(RealServer.objects.select_related("virtual_server"), pk=rs_pk)
    return _panel(request, {"vs": rs.virtual_server, "rs": rs, "tab": "real", "subject": f"real server {rs.name}",
                            "url": reverse("history_real", args=[rs.pk]),
                            **history_context(SeriesRef.of_real(rs), [rs], request.GET.get("range", ""))})
