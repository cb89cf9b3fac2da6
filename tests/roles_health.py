"""Role expectations for the health and history views: name -> (role for GET, role for POST).
Merged into tests/test_roles.py's table."""
from django.urls import reverse

from lbadmin.roles import ADMIN, OPERATOR, VIEWER  # noqa: F401

GET_ONLY = "405"
POST_ONLY = "405"
EXPECTED: dict = {
    "health_history": (VIEWER, GET_ONLY),
    "health_check_now": (POST_ONLY, OPERATOR),
    "health_try": (POST_ONLY, ADMIN),
    "health_manual_result": (OPERATOR, POST_ONLY),
    "history_virtual": (VIEWER, GET_ONLY),
    "history_real": (VIEWER, GET_ONLY),
}


def _loopback_real_server(ids) -> int:
    """"Check now" really connects, and tests send traffic only to loopback: it is
    pointed at a real server on 127.0.0.1, on a port nobody listens on (refused at once)."""
    from tests.services import free_port
    from virtualservers.models import RealServer

    rs, _ = RealServer.objects.get_or_create(
        virtual_server_id=ids["virtual"], name="loopback-probe",
        defaults={"address": "127.0.0.1", "port": free_port()})
    return rs.pk


# How to build each view's URL: name -> function(ids) -> str; ids has virtual, real, director, user, audit.
URLS: dict = {
    "health_history": lambda ids: reverse("health_history", args=[ids["real"]]),
    "health_check_now": lambda ids: reverse("health_check_now", args=[_loopback_real_server(ids)]),
    # Without a chosen real server "try it" answers with a form error and runs nothing.
    "health_try": lambda ids: reverse("health_try", args=[ids["virtual"]]),
    # Another user's (or a forgotten) token: the page says so and shows nothing of it.
    "health_manual_result": lambda ids: reverse("health_manual_result", args=["no-such-token"]),
    "history_virtual": lambda ids: reverse("history_virtual", args=[ids["virtual"]]),
    "history_real": lambda ids: reverse("history_real", args=[ids["real"]]),
}
