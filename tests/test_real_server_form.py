"""The real server form: a new real server is active unless the operator unticks Active,
and the box is there to see; an existing one changes state by the list's buttons."""
import re

import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry
from tests import factories
from virtualservers.models import RealServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def vs():
    return factories.virtual_server()


def test_the_add_form_shows_active_ticked(client_for, admin_user, vs):
    page = client_for(admin_user).get(reverse("real_add", args=[vs.pk])).content.decode()
    box = re.search(r'<input type="checkbox" name="active"[^>]*>', page).group(0)
    assert "checked" in box
    assert "lvs.cf active = 1" in page


def test_a_real_server_added_as_the_form_comes_is_active(client_for, admin_user, vs):
    response = client_for(admin_user).post(reverse("real_add", args=[vs.pk]),
                                           {"name": "CAS1", "address": "192.0.2.21", "weight": "1", "active": "on"})
    assert response.status_code == 302
    rs = RealServer.objects.get(virtual_server=vs, name="CAS1")
    assert rs.admin_state == "enabled"
    created = AuditEntry.objects.get(action="create", object_type="RealServer", object_id=str(rs.pk))
    assert created.after["admin_state"] == "enabled"


def test_a_real_server_added_with_active_unticked_is_inactive(client_for, admin_user, vs):
    response = client_for(admin_user).post(reverse("real_add", args=[vs.pk]),
                                           {"name": "CAS1", "address": "192.0.2.21", "weight": "1"})
    assert response.status_code == 302
    assert RealServer.objects.get(virtual_server=vs, name="CAS1").admin_state == "disabled"


def test_the_edit_form_leaves_the_state_to_the_buttons(client_for, admin_user, vs):
    rs = factories.real_server(vs, admin_state="draining")
    client = client_for(admin_user)
    assert 'name="active"' not in client.get(reverse("real_edit", args=[vs.pk, rs.pk])).content.decode()
    response = client.post(reverse("real_edit", args=[vs.pk, rs.pk]),
                           {"name": "CAS1", "address": "192.0.2.21", "weight": "3"})
    assert response.status_code == 302
    rs.refresh_from_db()
    assert (rs.weight, rs.admin_state) == (3, "draining")
