"""URLs of the monitoring app: CONTROL/MONITORING, the health pages and ALERTS."""
from django.urls import include, path

from . import metrics_views
from . import views as monitoring

urlpatterns = [
    path("control/", monitoring.control, name="control"),
    path("control/live/", monitoring.live, name="control_live"),
    path("health/", include("monitoring.health_urls")),
    path("alerts/", include("monitoring.alerts_urls")),
    path("metrics", metrics_views.metrics, name="metrics"),
]
