"""/api/v1/: the JSON API (api.main), its OpenAPI document and its interactive docs."""
from django.urls import path

from .main import api, urlpatterns_without_login

urlpatterns = [
    path("api/v1/", (urlpatterns_without_login(api.urls[0]), *api.urls[1:])),
]
