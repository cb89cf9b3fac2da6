"""Role expectations for REAL SERVERS (hosts) and the bulk actions on VIRTUAL SERVERS:
name -> (role for GET, role for POST). Merged into tests/test_roles.py's table."""
from django.urls import reverse

from lbadmin.roles import ADMIN, OPERATOR, VIEWER
from virtualservers.models import RealServer

GET_ONLY = POST_ONLY = "405"
EXPECTED: dict = {
    "host_list": (VIEWER, GET_ONLY),
    "host_detail": (VIEWER, GET_ONLY),
    "host_action": (POST_ONLY, OPERATOR),
    "host_add": (POST_ONLY, ADMIN),
    "virtual_bulk": (POST_ONLY, OPERATOR),
}


def _address(ids) -> str:
    return RealServer.objects.get(pk=ids["real"]).address


URLS: dict = {
    "virtual_bulk": lambda ids: reverse("virtual_bulk"),
    "host_detail": lambda ids: reverse("host_detail", args=[_address(ids)]),
    "host_action": lambda ids: reverse("host_action", args=[_address(ids)]),
    "host_add": lambda ids: reverse("host_add", args=[_address(ids)]),
}
