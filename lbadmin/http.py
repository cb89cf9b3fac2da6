"""Responses shared by the apps' views, and ids read from a request."""
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


# The largest id a database row can have (a signed 64-bit integer). A larger number typed
# into a form would reach the database as a lookup and fail there (SQLite raises
# OverflowError: a 500) instead of simply matching nothing.
MAX_ID = 2**63 - 1


def as_id(value: object) -> int | None:
    """`value` as a row id when it is one (ASCII digits, 1 to MAX_ID), else None."""
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def posted_ids(values) -> list[int]:
    """The row ids among `values` (a POST's getlist): what is not one is left out."""
    return [number for number in map(as_id, values) if number is not None]
