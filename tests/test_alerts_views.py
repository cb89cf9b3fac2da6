"""ALERTS: admins add destinations (secrets never shown back), operators press "send
test" (POST + CSRF) against a real receiver, everyone reads what was sent or failed."""
import hashlib
import hmac

import pytest
from django.urls import reverse
from django.utils.html import escape

from lbadmin.models import AuditEntry
from monitoring.models import AlertDelivery, AlertDestination
from tests import factories
from tests.alert_receivers import webhook_receiver

SECRET = "a-long-enough-webhook-secret"
pytestmark = pytest.mark.django_db


def form(url="http://127.0.0.1:9/hook", **fields):
    return {"name": "ops-hook", "kind": "webhook", "enabled": "on", "events": ["health", "drift"], "url": url,
            "secret": SECRET, "to_addresses": "", **fields}


def test_an_admin_adds_a_webhook_and_the_secret_is_never_shown_back(client_for, admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("alert_destination_add"), form())
    assert response.status_code == 302, response.content
    destination = AlertDestination.objects.get()
    assert destination.secret == SECRET and destination.events == ["health", "drift"]
    for url in (reverse("alerts"), reverse("alert_destination_edit", args=[destination.pk])):
        assert SECRET not in client.get(url).content.decode()
    entry = AuditEntry.objects.get(action="create", object_type="AlertDestination")
    assert SECRET not in str(entry.after) and entry.after["secret"].startswith("sha256:")


def test_saving_without_typing_the_secret_keeps_it(client_for, admin_user):
    client = client_for(admin_user)
    client.post(reverse("alert_destination_add"), form())
    destination = AlertDestination.objects.get()
    response = client.post(reverse("alert_destination_edit", args=[destination.pk]),
                           form(secret="", name="renamed"))
    assert response.status_code == 302
    destination.refresh_from_db()
    assert (destination.name, destination.secret) == ("renamed", SECRET)


@pytest.mark.parametrize("fields, field, words", [
    ({"url": "ftp://example.net/x"}, "url", "only http:// and https:// URLs"),
    ({"url": "file:///etc/passwd"}, "url", "only http:// and https:// URLs"),
    ({"url": ""}, "url", "A webhook needs a URL."),
    ({"secret": "short"}, "secret", "At least 16 characters."),
    ({"secret": ""}, "secret", "A webhook needs a secret"),
    ({"events": []}, "events", "This field is required."),
    ({"kind": "email", "to_addresses": "not an address"}, "to_addresses", "is not a mail address"),
    ({"kind": "email", "to_addresses": ""}, "to_addresses", "needs at least one address"),
])
def test_bad_input_is_refused_next_to_its_field(client_for, admin_user, fields, field, words):
    response = client_for(admin_user).post(reverse("alert_destination_add"), form(**fields))
    assert response.status_code == 200
    assert words in " ".join(response.context["form"].errors[field])
    assert AlertDestination.objects.count() == 0


def test_an_operator_sends_a_test_and_sees_it_recorded(client_for, operator, admin_user):
    with webhook_receiver() as receiver:
        client_for(admin_user).post(reverse("alert_destination_add"), form(url=receiver.url))
        destination = AlertDestination.objects.get()
        client = client_for(operator, enforce_csrf=True)
        page = client.get(reverse("alerts"))
        token = page.cookies["csrftoken"].value
        response = client.post(reverse("alert_destination_test", args=[destination.pk]),
                               {"csrfmiddlewaretoken": token}, follow=True)
    assert response.status_code == 200
    assert "Test message sent to ops-hook: HTTP 200" in response.content.decode()
    [post] = receiver.posts
    body = post.json()
    assert body["event"] == "test" and body["test"] is True and body["count"] == 0
    stamp = post.headers["x-lbadmin-timestamp"]
    mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-lbadmin-signature"] == "sha256=" + mac
    delivery = AlertDelivery.objects.get()
    assert (delivery.test, delivery.status, delivery.attempts) == (True, "sent", 1)
    assert 'id="alert-delivery-%d"' % delivery.pk in response.content.decode()
    assert AuditEntry.objects.filter(action="alert_test", username=operator.username).exists()


def test_a_failed_test_says_why_and_is_kept_as_failed(client_for, operator):
    with webhook_receiver(fail_first=1) as receiver:
        destination = AlertDestination.objects.create(name="broken", kind="webhook", url=receiver.url, secret=SECRET,
                                                      events=["health"])
        response = client_for(operator).post(reverse("alert_destination_test", args=[destination.pk]), follow=True)
    text = response.content.decode()
    assert "Test message to broken failed: SendError: HTTP 500" in text
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)


def test_send_test_needs_post_csrf_and_the_operator_role(client_for, viewer, operator):
    destination = AlertDestination.objects.create(name="d", kind="webhook", url="http://127.0.0.1:9/", secret=SECRET,
                                                  events=["health"])
    url = reverse("alert_destination_test", args=[destination.pk])
    assert client_for(operator).get(url).status_code == 405
    assert client_for(viewer).post(url).status_code == 403
    assert client_for(operator, enforce_csrf=True).post(url).status_code == 403
    assert AlertDelivery.objects.count() == 0


def test_a_viewer_reads_the_history_but_gets_no_buttons(client_for, viewer):
    vs = factories.virtual_server("web")
    destination = AlertDestination.objects.create(name="ops", kind="webhook", url="http://127.0.0.1:9/", secret=SECRET,
                                                  events=["health"])
    destination.virtual_servers.add(vs)
    from django.utils import timezone

    now = timezone.now()
    AlertDelivery.objects.create(destination=destination, destination_name="ops", status="failed", attempts=5,
                                 summary="web/CAS1: up -> down", last_error="SendError: HTTP 502 Bad Gateway",
                                 created_at=now, due_at=now)
    text = client_for(viewer).get(reverse("alerts")).content.decode()
    assert escape("web/CAS1: up -> down") in text and "HTTP 502 Bad Gateway" in text and "Failed" in text
    assert "send test" not in text and reverse("alert_destination_add") not in text
    assert SECRET not in text


def test_deleting_a_destination_keeps_its_history(client_for, admin_user):
    from django.utils import timezone

    destination = AlertDestination.objects.create(name="old", kind="webhook", url="http://127.0.0.1:9/",
                                                  secret=SECRET, events=["health"])
    now = timezone.now()
    AlertDelivery.objects.create(destination=destination, destination_name="old", status="sent", created_at=now,
                                 due_at=now, summary="kept")
    client_for(admin_user).post(reverse("alert_destination_delete", args=[destination.pk]))
    assert not AlertDestination.objects.exists()
    assert AlertDelivery.objects.get().destination_name == "old"
    assert AuditEntry.objects.filter(action="delete", object_type="AlertDestination").exists()


def test_a_grouped_message_shows_how_many_events_it_holds(client_for, viewer):
    from monitoring import alerts_delivery, alerts_events

    vs = factories.virtual_server("web")
    AlertDestination.objects.create(name="ops", kind="webhook", url="http://127.0.0.1:9/", secret=SECRET,
                                    events=["health"])
    for i in range(20):
        alerts_events.record(alerts_events.HEALTH, virtual_server=vs, real_server="CAS1",
                             old_state="up" if i % 2 else "down", new_state="down" if i % 2 else "up")
    alerts_delivery.route()
    text = client_for(viewer).get(reverse("alerts")).content.decode()
    assert "20 events</span> web/CAS1 flapped 20 times" in text
    assert "20 event(s) not yet routed" not in text and "1 message(s) waiting to be sent" in text
