"""URLs of the monitoring app: CONTROL/MONITORING, the health and history pages, ALERTS."""
from django.urls import include, path

from . import history_views, metrics_views
from . import views as monitoring

urlpatterns = [
    path("control/", monitoring.control, name="control"),
    path("control/live/", monitoring.live, name="control_live"),
    path("health/", include("monitoring.health_urls")),
    path("history/virtual/<int:pk>/", history_views.virtual_history, name="history_virtual"),
    path("history/real/<int:rs_pk>/", history_views.real_history, name="history_real"),
    path("alerts/", include("monitoring.alerts_urls")),
    path("metrics", metrics_views.metrics, name="metrics"),
]
