"""URLs of ALERTS, under /alerts/."""
from django.urls import path

from . import alerts_views

urlpatterns = [
    path("", alerts_views.alerts, name="alerts"),
    path("add/", alerts_views.destination_edit, name="alert_destination_add"),
    path("<int:pk>/", alerts_views.destination_edit, name="alert_destination_edit"),
    path("<int:pk>/delete/", alerts_views.destination_delete, name="alert_destination_delete"),
    path("<int:pk>/test/", alerts_views.send_test, name="alert_destination_test"),
]
