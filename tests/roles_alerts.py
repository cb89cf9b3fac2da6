"""Role expectations for ALERTS: name -> (role for GET, role for POST). Merged into
tests/test_roles.py's table."""
from django.urls import reverse

from lbadmin.roles import ADMIN, OPERATOR, VIEWER
from monitoring.models import AlertDestination

GET_ONLY = POST_ONLY = "405"
EXPECTED: dict = {
    "alerts": (VIEWER, GET_ONLY),
    "alert_destination_add": (ADMIN, ADMIN),
    "alert_destination_edit": (ADMIN, ADMIN),
    "alert_destination_delete": (POST_ONLY, ADMIN),
    "alert_destination_test": (POST_ONLY, OPERATOR),
}


def _destination(ids) -> int:
    """A webhook to a closed port (a test message fails at once); made again after a delete."""
    destination, _ = AlertDestination.objects.get_or_create(name="roles", defaults=dict(
        kind="webhook", url="http://127.0.0.1:9/hook", secret="x" * 16, events=["health"]))
    return destination.pk


URLS: dict = {name: (lambda ids, name=name: reverse(name, args=[_destination(ids)]))
              for name in ("alert_destination_edit", "alert_destination_delete", "alert_destination_test")}
