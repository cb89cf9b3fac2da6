"""ALERTS: the destinations (admins edit them), "send test" (operators), and every
message sent or failed (everyone reads)."""
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lbadmin import audit
from lbadmin.editing import edit_page
from lbadmin.roles import ADMIN, OPERATOR, VIEWER, role_required

from . import alerts_delivery
from .alerts_forms import AlertDestinationForm
from .alerts_models import AlertDelivery, AlertDestination

PAGE_SIZE = 50


@require_GET
@role_required(VIEWER)
def alerts(request: HttpRequest) -> HttpResponse:
    deliveries = AlertDelivery.objects.annotate(n_events=Count("events")).order_by("-created_at", "-id")
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    smtp = {key: value for key, value in settings.ALERT_SMTP.items() if key != "password"}
    return render(request, "monitoring/alerts.html", {
        "destinations": AlertDestination.objects.prefetch_related("virtual_servers"), "page": page,
        "pending": alerts_delivery.pending(), "smtp": smtp, "smtp_password_set": bool(settings.ALERT_SMTP["password"]),
        "window": settings.ALERT_WINDOW, "backoff": alerts_delivery.BACKOFF})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def destination_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    destination = get_object_or_404(AlertDestination, pk=pk) if pk else AlertDestination()
    return edit_page(request, form_class=AlertDestinationForm, instance=destination,
                     template="monitoring/alert_destination_form.html", success_url=reverse("alerts"),
                     object_type="AlertDestination")


@require_POST
@role_required(ADMIN)
def destination_delete(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(AlertDestination, pk=pk)
    with transaction.atomic():
        audit.record("delete", destination, before=audit.snapshot(destination), object_type="AlertDestination")
        destination.delete()
    messages.success(request, f"Deleted alert destination {destination}.")
    return redirect("alerts")


@require_POST
@role_required(OPERATOR)
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    """One test message now; the result is said here and kept in the history."""
    destination = get_object_or_404(AlertDestination, pk=pk)
    delivery = alerts_delivery.send_test(destination, by=request.user.get_username())
    audit.record("alert_test", destination, object_type="AlertDestination", request=request,
                 message=f"test message to {destination.target()}: {delivery.get_status_display()}"
                         + (f" ({delivery.last_error})" if delivery.last_error else ""))
    if delivery.status == AlertDelivery.Status.SENT:
        messages.success(request, f"Test message sent to {destination}: {delivery.log.strip().rsplit(': ', 1)[-1]}")
    else:
        messages.error(request, f"Test message to {destination} failed: {delivery.last_error}")
    return redirect("alerts")
