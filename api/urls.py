"""/api/v1/: the JSON API (api.main), its OpenAPI document and its interactive docs."""
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from .main import api, urlpatterns_without_login


@csrf_exempt  # it changes nothing; a POST answers 404 JSON like a GET
@login_not_required
def not_found(request, rest: str = ""):
    """Any other /api/v1/ URL (an id that is no number, say): 404 in JSON, not the 404 page."""
    return JsonResponse({"detail": "Not Found: no such API URL. The operations are listed in /api/v1/openapi.json "
                                   "and on /api/v1/docs."}, status=404)


urlpatterns = [
    path("api/v1/", not_found, name="api_not_found"),
    path("api/v1/", (urlpatterns_without_login(api.urls[0]), *api.urls[1:])),
    re_path(r"^api/v1/(?P<rest>.*)$", not_found, name="api_not_found"),
]
