"""URLs of the health-check views (check now, try it and their queued lines, history), under /health/."""
from django.urls import path

from . import health_views

urlpatterns = [
    path("real/<int:rs_pk>/", health_views.history, name="health_history"),
    path("real/<int:rs_pk>/check/", health_views.check_now, name="health_check_now"),
    path("virtual/<int:pk>/try/", health_views.try_it, name="health_try"),
    path("queued/<str:token>/", health_views.manual_result, name="health_manual_result"),
]
