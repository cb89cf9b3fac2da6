"""The audit log: what is recorded, the review page, and that nothing can
change or delete an entry."""
import csv
import io

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from lbadmin.models import AuditEntry
from tests import factories
from virtualservers.models import RealServer

VS_FORM = {"name": "Exchange-443", "address": "192.0.2.50", "vip_nmask": "255.255.255.255", "device": "seth0:1",
           "protocol": "tcp", "port": "443", "scheduler": "rr", "persistent": "14400",
           "pmask": "255.255.255.255", "forwarding": "direct", "load_monitor": "none", "drain_timeout": "300"}


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def last(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).latest("id")


@pytest.mark.django_db
def test_it_records_a_create_with_who_where_and_the_values(admin_client, admin_user):
    response = admin_client.post(reverse("virtual_add"), VS_FORM, REMOTE_ADDR="198.51.100.7", HTTP_X_REQUEST_ID="req-abc")
    assert response.status_code == 302
    entry = last("create")
    assert entry.user == admin_user and entry.username == admin_user.username
    assert entry.source_ip == "198.51.100.7" and entry.request_id == "req-abc"
    assert entry.object_type == "VirtualServer" and entry.object_repr == "Exchange-443"
    assert entry.before is None and entry.after["persistent"] == 14400 and entry.after["device"] == "seth0:1"
    assert response["X-Request-ID"] == "req-abc"


@pytest.mark.django_db
def test_it_records_an_update_with_before_and_after(admin_client):
    vs = factories.virtual_server()
    response = admin_client.post(reverse("virtual_edit", args=[vs.pk]), {**VS_FORM, "persistent": "300"})
    assert response.status_code == 302
    entry = last("update")
    assert ("persistent", 14400, 300) in entry.changes()
    assert [c[0] for c in entry.changes()] == ["persistent"]


@pytest.mark.django_db
def test_a_save_that_changes_nothing_writes_nothing(admin_client):
    vs = factories.virtual_server()
    count = AuditEntry.objects.count()
    admin_client.post(reverse("virtual_edit", args=[vs.pk]), VS_FORM)
    assert AuditEntry.objects.count() == count


@pytest.mark.django_db
def test_it_records_delete_activate_deactivate_and_drain(client_for, admin_user):
    c = client_for(admin_user)
    vs = factories.virtual_server()
    rs = factories.real_server(vs, admin_state="enabled")
    c.post(reverse("virtual_toggle", args=[vs.pk]))
    assert last("activate").changes() == [("active", False, True)]
    # The last real server of an active service: each taking out is confirmed (blast_radius).
    c.post(reverse("real_toggle", args=[vs.pk, rs.pk]), {"confirm": "yes"})
    assert last("deactivate").changes() == [("admin_state", "enabled", "disabled")]
    c.post(reverse("real_toggle", args=[vs.pk, rs.pk]))
    c.post(reverse("real_drain", args=[vs.pk, rs.pk]), {"confirm": "yes"})
    assert last("drain").changes() == [("admin_state", "enabled", "draining")]
    c.post(reverse("real_delete", args=[vs.pk, rs.pk]), {"confirm": "yes"})
    assert last("delete").before["name"] == "CAS1" and last("delete").after is None
    assert not RealServer.objects.exists()


@pytest.mark.django_db
def test_it_records_login_logout_and_failed_login(client, make_user):
    make_user("viewer", username="alice", password="correct-horse-battery")
    client.post(reverse("login"), {"username": "alice", "password": "wrong"}, REMOTE_ADDR="198.51.100.9")
    failed = last("login_failed")
    assert failed.username == "alice" and failed.user is None and failed.source_ip == "198.51.100.9"
    client.post(reverse("login"), {"username": "alice", "password": "correct-horse-battery"})
    assert last("login").username == "alice"
    client.post(reverse("logout"))
    assert last("logout").username == "alice"


@pytest.mark.django_db
def test_it_records_a_password_change_without_the_password(client_for, make_user):
    user = make_user("viewer", username="bob", password="correct-horse-battery")
    c = client_for(user)
    response = c.post(reverse("password_change"), {"old_password": "correct-horse-battery",
                                                   "new_password1": "another-long-secret", "new_password2": "another-long-secret"})
    assert response.status_code == 302
    entry = last("password_change")
    assert entry.username == "bob" and "another-long-secret" not in str(entry.before) + str(entry.after)


@pytest.mark.django_db
def test_the_review_page_filters_pages_and_shows_a_difference(admin_client, admin_user):
    vs = factories.virtual_server()
    for port in range(1000, 1060):
        admin_client.post(reverse("virtual_edit", args=[vs.pk]), {**VS_FORM, "port": str(port)})
    page = admin_client.get(reverse("audit_list"), {"action": "update"}).content.decode()
    assert "page 1 of 2" in page and "(60 entries)" in page
    page2 = admin_client.get(reverse("audit_list"), {"action": "update", "page": 2}).content.decode()
    assert "page 2 of 2" in page2
    assert "(0 entries)" in admin_client.get(reverse("audit_list"), {"user": "nobody-such"}).content.decode()
    assert "(60 entries)" in admin_client.get(reverse("audit_list"), {"q": "Exchange", "action": "update"}).content.decode()
    assert "(60 entries)" in admin_client.get(reverse("audit_list"), {"object_type": "VirtualServer", "action": "update"}).content.decode()
    assert "(0 entries)" in admin_client.get(reverse("audit_list"), {"object_type": "User", "action": "update"}).content.decode()
    future = admin_client.get(reverse("audit_list"), {"since": "2999-01-01T00:00"}).content.decode()
    assert "(0 entries)" in future
    entry = AuditEntry.objects.filter(action="update").latest("id")
    detail = admin_client.get(reverse("audit_detail", args=[entry.pk])).content.decode()
    assert '<td class="before">1058</td>' in detail and '<td class="after">1059</td>' in detail


@pytest.mark.django_db
def test_a_bad_filter_is_reported_not_a_500(admin_client):
    response = admin_client.get(reverse("audit_list"), {"since": "yesterday-ish", "until": "2020-01-01T00:00"})
    assert response.status_code == 200 and "Enter a valid date/time" in response.content.decode()


@pytest.mark.django_db
def test_the_csv_export_holds_the_filtered_entries(admin_client):
    vs = factories.virtual_server()
    admin_client.post(reverse("virtual_edit", args=[vs.pk]), {**VS_FORM, "port": "8443"})
    response = admin_client.get(reverse("audit_export"), {"action": "update"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["time", "user", "source_ip", "request_id", "action"]
    assert len(rows) == 2 and rows[1][4] == "update" and "port: 443 -> 8443" in rows[1][8]


@pytest.mark.django_db
def test_a_model_save_cannot_edit_or_delete_an_entry():
    entry = AuditEntry.objects.create(action="create", username="x")
    entry.action = "nothing happened"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "create"


@pytest.mark.django_db(transaction=True)
def test_the_database_itself_refuses_update_and_delete():
    entry = AuditEntry.objects.create(action="create", username="x")
    for sql in ("UPDATE lbadmin_auditentry SET action = 'forged'", "DELETE FROM lbadmin_auditentry"):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEntry.objects.get(pk=entry.pk).action == "create"


@pytest.mark.django_db
def test_no_django_admin_can_change_an_entry_because_there_is_none(client, django_user_model):
    su = django_user_model.objects.create_superuser("root", password="correct-horse-battery")
    client.force_login(su)
    entry = AuditEntry.objects.create(action="create", username="x")
    assert client.get("/django-admin/lbadmin/auditentry/").status_code == 404
    change_url = f"/django-admin/lbadmin/auditentry/{entry.pk}/change/"
    assert client.post(change_url, {"action": "forged", "username": "y"}).status_code == 404
    assert client.get(f"/django-admin/lbadmin/auditentry/{entry.pk}/delete/").status_code == 404
    response = client.post("/django-admin/lbadmin/auditentry/",
                           {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert response.status_code == 404
    entry.refresh_from_db()
    assert entry.action == "create" and entry.username == "x"


@pytest.mark.django_db
def test_the_pages_offer_no_way_to_change_an_entry(admin_client):
    entry = AuditEntry.objects.create(action="create", username="x")
    assert admin_client.post(reverse("audit_detail", args=[entry.pk]), {"action": "forged"}).status_code == 405
    entry.refresh_from_db()
    assert entry.action == "create"
