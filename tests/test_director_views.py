"""DIRECTORS: the form carries the VRRP fields, the list shows group, priority and state."""
import datetime

import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry, Director, RedundancyGroup
from tests import factories


@pytest.mark.django_db
def test_the_form_offers_the_vrrp_fields_with_help(client_for, admin_user):
    page = client_for(admin_user).get(reverse("director_add")).content.decode()
    for name in ("group", "priority", "vrrp_address", "keepalived_conf", "keepalived_pidfile", "state_dir"):
        assert f'name="{name}"' in page
    assert "the highest live director of the group holds the VIPs" in page


@pytest.mark.django_db
def test_an_admin_puts_a_director_in_a_group_with_an_audit_entry(client_for, admin_user):
    group = RedundancyGroup.objects.create(name="edge")
    director = factories.director("lb1")
    data = {"name": "lb1", "address": "127.0.0.1", "transport": "local", "ssh_port": "22", "ssh_user": "root",
            "drift_policy": "repair", "enabled": "on", "group": str(group.pk), "priority": "150",
            "vrrp_address": "192.0.2.11", "keepalived_conf": "/etc/keepalived/keepalived.conf",
            "keepalived_pidfile": "/run/keepalived.pid", "state_dir": "/var/lib/lbadmin"}
    response = client_for(admin_user).post(reverse("director_edit", args=[director.pk]), data)
    assert response.status_code == 302
    director.refresh_from_db()
    assert director.group == group and director.priority == 150 and director.vrrp_address == "192.0.2.11"
    assert AuditEntry.objects.filter(action="update", object_type="Director").exists()


@pytest.mark.django_db
def test_the_form_refuses_a_priority_out_of_range(client_for, admin_user):
    director = factories.director("lb1")
    data = {"name": "lb1", "address": "127.0.0.1", "transport": "local", "ssh_port": "22", "ssh_user": "root",
            "drift_policy": "repair", "priority": "255", "keepalived_conf": "/etc/keepalived/keepalived.conf",
            "keepalived_pidfile": "/run/keepalived.pid", "state_dir": "/var/lib/lbadmin"}
    response = client_for(admin_user).post(reverse("director_edit", args=[director.pk]), data)
    assert response.status_code == 200
    assert Director.objects.get(pk=director.pk).priority == 100


@pytest.mark.django_db
def test_the_list_shows_group_priority_and_vrrp_state(client_for, viewer):
    group = RedundancyGroup.objects.create(name="edge")
    factories.director("lb1", group=group, priority=150, vrrp_state="MASTER",
                       vrrp_state_since=datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc))
    page = client_for(viewer).get(reverse("director_list")).content.decode()
    assert "<td>edge</td>" in page and "<td>150</td>" in page
    assert '<span class="badge vrrp-master">MASTER</span>' in page and "since 2026-12-01" in page


@pytest.mark.django_db
def test_saving_a_director_or_the_settings_asks_for_reconciles_in_the_same_transaction(client_for, admin_user):
    from virtualservers.models import ReconcileRequest

    client = client_for(admin_user)
    lb1, lb2 = factories.director("lb1"), factories.director("lb2")
    factories.director("off", enabled=False)
    data = {"name": "lb1", "address": "127.0.0.1", "transport": "local", "ssh_port": "22", "ssh_user": "root",
            "drift_policy": "report", "enabled": "on", "priority": "100", "keepalived_conf": "/etc/keepalived/keepalived.conf",
            "keepalived_pidfile": "/run/keepalived.pid", "state_dir": "/var/lib/lbadmin"}
    assert client.post(reverse("director_edit", args=[lb1.pk]), data).status_code == 302
    assert list(ReconcileRequest.objects.values_list("director_id", "trigger")) == [(lb1.pk, "director saved")]

    ReconcileRequest.objects.all().delete()
    form = client.get(reverse("global_settings")).context["form"]
    settings = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    assert client.post(reverse("global_settings"), {**settings, "tcp_timeout": "900"}).status_code == 302
    assert sorted(ReconcileRequest.objects.values_list("director_id", "trigger")) == sorted(
        [(lb1.pk, "global settings saved"), (lb2.pk, "global settings saved")])
