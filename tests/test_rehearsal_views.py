"""REDUNDANCY: the REHEARSE FAILOVER button and the rehearsal history (method, role, effect)."""
import pytest
from django.urls import reverse

from lbadmin.models import FailoverRehearsal, RedundancyGroup
from tests import factories


pytestmark = pytest.mark.usefixtures("empty_redis")


@pytest.fixture
def sent(monkeypatch):
    queued = []
    monkeypatch.setattr("virtualservers.tasks.rehearse_failover.delay", queued.append)
    return queued


@pytest.fixture
def pair(db):
    group = RedundancyGroup.objects.create(name="edge", virtual_router_id=51, interface="eth0")
    factories.director("lb1", group=group, priority=150)
    factories.director("lb2", group=group, priority=100)
    return group


def rehearse(client, group, **headers):
    return client.post(reverse("redundancy_group_rehearse", args=[group.pk]), **headers)


@pytest.mark.django_db(transaction=True)
def test_it_queues_a_rehearsal_for_an_admin(client_for, admin_user, pair, sent):
    response = rehearse(client_for(admin_user), pair)
    assert response.status_code == 302 and response["Location"].endswith(f"#rehearsals-{pair.pk}")
    rehearsal = FailoverRehearsal.objects.get()
    assert rehearsal.result == "pending" and rehearsal.trigger == "manual"
    assert rehearsal.requested_by == admin_user and rehearsal.requested_by_name == admin_user.username
    assert sent == [rehearsal.pk]  # queued once the row was committed


@pytest.mark.django_db
def test_it_rejects_get(client_for, admin_user, pair):
    assert client_for(admin_user).get(reverse("redundancy_group_rehearse", args=[pair.pk])).status_code == 405
    assert not FailoverRehearsal.objects.exists()


@pytest.mark.django_db
def test_it_requires_the_admin_role(client_for, operator, pair, sent):
    assert rehearse(client_for(operator), pair).status_code == 403
    assert not FailoverRehearsal.objects.exists() and sent == []


@pytest.mark.django_db
def test_it_refuses_a_group_of_one_with_a_clear_message(client_for, admin_user, sent):
    group = RedundancyGroup.objects.create(name="solo", virtual_router_id=60)
    factories.director("alone", group=group)
    page = rehearse(client_for(admin_user), group, follow=True).content.decode()
    assert "Not rehearsed: Group solo has 1 enabled director(s): a failover needs two or more." in page
    assert not FailoverRehearsal.objects.exists()


@pytest.mark.django_db
def test_from_htmx_it_answers_with_the_history_polling_while_it_runs(client_for, admin_user, pair, sent):
    client = client_for(admin_user)
    part = rehearse(client, pair, HTTP_HX_REQUEST="true").content.decode()
    assert f'id="rehearsals-{pair.pk}"' in part and 'hx-trigger="every 1s"' in part and "Pending" in part
    again = rehearse(client, pair, HTTP_HX_REQUEST="true").content.decode()
    assert "Not rehearsed: A rehearsal of group edge is already under way" in again
    assert FailoverRehearsal.objects.count() == 1


@pytest.mark.django_db
def test_the_history_polls_while_one_runs_and_stops_with_286(client_for, viewer, pair):
    rehearsal = FailoverRehearsal.objects.create(group=pair, result="running", stage="waiting for a new MASTER")
    client = client_for(viewer)
    url = reverse("redundancy_group_rehearsals", args=[pair.pk])
    running = client.get(url, HTTP_HX_REQUEST="true")
    assert running.status_code == 200 and "every 1s" in running.content.decode()
    assert "HX-Request" in running["Vary"]
    FailoverRehearsal.objects.filter(pk=rehearsal.pk).update(
        result="ok", stage="", from_director="lb1", to_director="lb2", takeover_seconds=0.0624,
        connections_before=7, connections_after=9, probe_summary="no probe: 192.0.2.50:443 does not answer")
    done = client.get(url, HTTP_HX_REQUEST="true")
    text = done.content.decode()
    assert done.status_code == 286 and "every 1s" not in text
    assert "lb1 → lb2" in text and "0.062 s" in text and "7 before, 9 after" in text


@pytest.mark.django_db
def test_the_page_shows_the_history_newest_first_and_the_button_to_admins_only(client_for, viewer, admin_user, pair):
    FailoverRehearsal.objects.create(group=pair, result="failed", error="no member reports MASTER")
    FailoverRehearsal.objects.create(group=pair, result="ok", from_director="lb1", to_director="lb2",
                                     takeover_seconds=0.1)
    page = client_for(viewer).get(reverse("redundancy_groups")).content.decode()
    assert page.index("lb1 → lb2") < page.index("no member reports MASTER")
    assert "REHEARSE FAILOVER" not in page and "Not scheduled" in page
    assert "hx-confirm" in client_for(admin_user).get(reverse("redundancy_groups")).content.decode()


@pytest.mark.django_db
def test_the_page_shows_when_the_schedule_is_due(client_for, viewer, pair):
    pair.rehearse_every_days = 7
    pair.save()
    assert "Every 7 day(s); next due" in client_for(viewer).get(reverse("redundancy_groups")).content.decode()
