"""Responses shared by the apps' views."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def page_or_partial(request: HttpRequest, page: str, partial: str, context: dict, *,
                    trigger: str | None = None) -> HttpResponse:
    """The whole page for a plain request, the partial for HTMX; one view serves both, so
    caches must key on HX-Request. `trigger` names an HX-Trigger event for HTMX (e.g. the
    apply panel starts following a run that a button queued)."""
    response = render(request, partial if request.htmx else page, context)
    patch_vary_headers(response, ["HX-Request"])
    if trigger and request.htmx:
        response["HX-Trigger"] = trigger
    return response


def partial(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """A fragment that only HTMX asks for (a polled panel): the same, without a page."""
    return page_or_partial(request, template, template, context)
