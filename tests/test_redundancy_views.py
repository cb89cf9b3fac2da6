"""REDUNDANCY: redundancy groups, each director's keepalived.conf preview, APPLY."""
import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry, RedundancyGroup
from lbadmin.redis_client import get_redis
from tests import factories
from virtualservers.reconcile import PENDING_KEY
from virtualservers.vrrp_config import desired_keepalived


pytestmark = pytest.mark.usefixtures("empty_redis")


@pytest.fixture
def pair(db):
    return factories.redundancy_pair(vrrp_address=("192.0.2.11", "192.0.2.12"))


@pytest.mark.django_db
def test_it_previews_each_directors_keepalived_conf_as_a_diff(client_for, viewer, pair):
    group, primary, backup = pair
    backup.vrrp_applied = desired_keepalived(backup)
    backup.save()
    page = client_for(viewer).get(reverse("redundancy_groups")).content.decode()
    assert "lb1: wanted" in page and "+        192.0.2.50/32 dev seth0" in page
    assert "Never installed by lbadmin" in page
    assert "Installed: the file on the director is the one reconcile wants." in page
    assert "lb2: wanted" not in page
    assert page.index("lb1") < page.index("lb2")  # highest priority first


@pytest.mark.django_db
def test_it_shows_the_defaults_with_their_reasons_and_the_piranha_values_link(client_for, viewer, pair):
    page = client_for(viewer).get(reverse("redundancy_groups")).content.decode()
    assert "refresh every 60 s" in page and "hour-long outages" in page and "nopreempt" in page
    assert reverse("redundancy") in page


@pytest.mark.django_db
def test_it_warns_when_preempt_comes_before_the_sync_daemon_caught_up(client_for, viewer, pair):
    group = pair[0]
    group.preempt, group.preempt_delay = True, 5
    group.save()
    page = client_for(viewer).get(reverse("redundancy_groups")).content.decode()
    assert "Preempt is on with a delay of 5 s" in page


@pytest.mark.django_db
def test_the_page_shows_the_apply_button_to_an_operator_only(client_for, viewer, operator, pair):
    assert "APPLY" not in client_for(viewer).get(reverse("redundancy_groups")).content.decode()
    assert "APPLY" in client_for(operator).get(reverse("redundancy_groups")).content.decode()


@pytest.mark.django_db
def test_apply_queues_a_reconcile_of_each_director_and_is_audited(client_for, operator, pair,
                                                                   django_capture_on_commit_callbacks):
    group, primary, backup = pair
    with django_capture_on_commit_callbacks(execute=True):  # queued once committed (the outbox)
        response = client_for(operator).post(reverse("redundancy_group_apply", args=[group.pk]))
    assert response.status_code == 302
    redis = get_redis()
    assert redis.get(PENDING_KEY.format(primary.pk)) is not None
    assert redis.get(PENDING_KEY.format(backup.pk)) is not None
    entry = AuditEntry.objects.get(action="apply")
    assert entry.object_type == "RedundancyGroup" and entry.username == operator.username
    assert "lb1, lb2" in entry.message


@pytest.mark.django_db
def test_apply_rejects_get(client_for, operator, pair):
    assert client_for(operator).get(reverse("redundancy_group_apply", args=[pair[0].pk])).status_code == 405


@pytest.mark.django_db
def test_apply_requires_the_operator_role(client_for, viewer, pair):
    assert client_for(viewer).post(reverse("redundancy_group_apply", args=[pair[0].pk])).status_code == 403
    assert not AuditEntry.objects.filter(action="apply").exists()


@pytest.mark.django_db
def test_an_admin_adds_a_group_with_an_audit_entry(client_for, admin_user):
    data = {"name": "core", "virtual_router_id": "52", "interface": "eth1", "advert_interval": "1",
            "vrrp_version": "3", "preempt_delay": "0", "sync_daemon": "on", "sync_id": "0",
            "garp_master_delay": "5", "garp_master_repeat": "5", "garp_master_refresh": "60",
            "rehearse_every_days": "0"}
    response = client_for(admin_user).post(reverse("redundancy_group_add"), data)
    assert response.status_code == 302
    group = RedundancyGroup.objects.get(name="core")
    assert group.interface == "eth1" and not group.preempt
    assert AuditEntry.objects.filter(action="create", object_type="RedundancyGroup").exists()


@pytest.mark.django_db
def test_delete_is_refused_while_directors_are_in_the_group(client_for, admin_user, pair):
    group = pair[0]
    response = client_for(admin_user).post(reverse("redundancy_group_delete", args=[group.pk]), follow=True)
    assert RedundancyGroup.objects.filter(pk=group.pk).exists()
    assert "Not deleted: directors lb1, lb2 are in group edge" in response.content.decode()


@pytest.mark.django_db
def test_an_empty_group_is_deleted_with_an_audit_entry(client_for, admin_user):
    group = RedundancyGroup.objects.create(name="spare", virtual_router_id=60)
    assert client_for(admin_user).post(reverse("redundancy_group_delete", args=[group.pk])).status_code == 302
    assert not RedundancyGroup.objects.filter(pk=group.pk).exists()
    assert AuditEntry.objects.filter(action="delete", object_type="RedundancyGroup", object_repr="spare").exists()


@pytest.mark.django_db
def test_editing_a_group_requires_the_admin_role(client_for, operator, pair):
    assert client_for(operator).get(reverse("redundancy_group_edit", args=[pair[0].pk])).status_code == 403


def queries_for(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_the_page_needs_as_many_queries_for_many_virtual_servers_as_for_one(client_for, viewer, pair):
    client = client_for(viewer)
    one = queries_for(client, reverse("redundancy_groups"))
    for n in range(30):
        factories.virtual_server(name=f"vs{n}", address=f"192.0.2.{100 + n}", active=True)
    assert queries_for(client, reverse("redundancy_groups")) == one
