"""Logins under attack: django-axes refuses a (user name, address) after 5 failures and an
address after 20, for 15 minutes or until an admin lifts it on USERS; the audit log gets
a few rows per burst; the typed user names are for admins' eyes only."""
import csv
import datetime
import io

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.urls import reverse

from lbadmin.models import AuditEntry
from tests.test_access import row_counts

IP = "198.51.100.20"
GOOD = "correct-horse-battery"


def login(client, username, password, ip=IP):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(client) -> bool:
    return client.get(reverse("control")).status_code == 200


def pass_the_cool_off():
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=16))


@pytest.fixture
def alice(make_user):
    return make_user("viewer", username="alice", password=GOOD)


@pytest.mark.django_db
def test_twenty_wrong_passwords_then_the_right_one_is_refused_until_the_cool_off_ends(client, alice):
    answers = [login(client, "alice", f"wrong-{i}").status_code for i in range(20)]
    assert answers[:4] == [200] * 4 and set(answers[4:]) == {429}
    assert login(client, "alice", GOOD).status_code == 429 and not logged_in(client)
    pass_the_cool_off()
    assert login(client, "alice", GOOD).status_code == 302 and logged_in(client)


@pytest.mark.django_db
def test_a_lockout_stores_and_audits_a_few_rows_not_one_per_attempt(client, alice):
    before = AuditEntry.objects.count()
    for i in range(1000):
        login(client, "alice", f"wrong-{i}")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True)[before:])
    assert actions == ["login_failed", "login_locked_out"]
    assert list(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == [5]


@pytest.mark.django_db
def test_other_users_and_addresses_are_not_locked_out(client, alice, make_user):
    make_user("viewer", username="bob", password=GOOD)
    for i in range(6):
        login(client, "alice", f"wrong-{i}")
    assert login(client, "bob", GOOD).status_code == 302
    client.logout()
    assert login(client, "alice", GOOD, ip="203.0.113.5").status_code == 302


@pytest.mark.django_db
def test_an_address_spraying_user_names_is_locked_out_for_every_name(client, alice):
    for i in range(20):
        assert login(client, f"guess-{i}", "wrong").status_code == (429 if i == 19 else 200)
    assert login(client, "alice", GOOD).status_code == 429
    assert AuditEntry.objects.filter(action__in=["login_failed", "login_locked_out"]).count() == 20


@pytest.mark.django_db
def test_a_wrong_totp_code_counts_as_a_failure(client, alice):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    for _ in range(5):
        client.post(reverse("login"), {"username": "alice", "password": GOOD, "otp_token": "000000"}, REMOTE_ADDR=IP)
    assert client.post(reverse("login"), {"username": "alice", "password": GOOD}, REMOTE_ADDR=IP).status_code == 429


@pytest.mark.django_db
def test_the_lockout_page_explains_what_happened_when_it_ends_and_who_can_lift_it(client, alice):
    for i in range(5):
        response = login(client, "alice", f"wrong-{i}")
    page = response.content.decode()
    assert response.status_code == 429 and "Logins refused for now" in page
    ends = AccessAttempt.objects.get().attempt_time + datetime.timedelta(minutes=15)
    assert IP in page and "15 minutes" in page and f"{ends:%Y-%m-%d %H:%M}" in page
    assert "admin can lift this" in page and "USERS page" in page and "Traceback" not in page


@pytest.mark.django_db
def test_an_admin_lifts_a_lockout_on_the_users_page_and_it_is_audited(client, client_for, alice, admin_user):
    for i in range(20):
        login(client, "alice", f"wrong-{i}")
    admin = client_for(admin_user, enforce_csrf=True)
    page = admin.get(reverse("user_list")).content.decode()
    assert IP in page and "alice (5)" in page and "LIFT" in page
    assert admin.post(reverse("lockout_lift"), {"ip_address": IP}).status_code == 403  # no CSRF token
    admin = client_for(admin_user)
    assert admin.post(reverse("lockout_lift"), {"ip_address": IP}).status_code == 302
    entry = AuditEntry.objects.filter(action="lift_lockout").get()
    assert entry.username == admin_user.username and entry.object_repr == IP
    assert entry.changes() == [("failures", 5, None), ("ip_address", IP, None)]
    assert "alice" not in str(entry.before) + entry.message
    assert login(client, "alice", GOOD).status_code == 302 and logged_in(client)


@pytest.mark.django_db
def test_a_viewer_or_operator_cannot_lift_a_lockout(client, client_for, alice, viewer, operator):
    for i in range(5):
        login(client, "alice", f"wrong-{i}")
    for user in (viewer, operator):
        assert client_for(user).post(reverse("lockout_lift"), {"ip_address": IP}).status_code == 403
    assert AccessAttempt.objects.exists()


@pytest.mark.django_db
def test_showing_the_login_page_writes_nothing(client):
    before = row_counts()
    assert client.get(reverse("login")).status_code == 200
    assert row_counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_non_admin_cannot_see_a_failed_login_user_name(client, client_for, make_user, admin_user, role):
    login(client, "hunter2-my-password", "wrong")
    entry = AuditEntry.objects.get(action="login_failed")
    reader = client_for(make_user(role))
    pages = [reader.get(reverse("audit_list")).content.decode(),
             reader.get(reverse("audit_detail", args=[entry.pk])).content.decode(),
             b"".join(reader.get(reverse("audit_export")).streaming_content).decode()]
    for page in pages:
        assert "hunter2" not in page and "(hidden)" in page
    searched = reader.get(reverse("audit_list"), {"q": "hunter2"}).content.decode()
    assert "(0 entries)" in searched
    assert "(0 entries)" in reader.get(reverse("audit_list"), {"user": "hunter2"}).content.decode()
    admin = client_for(admin_user)
    rows = list(csv.reader(io.StringIO(b"".join(admin.get(reverse("audit_export")).streaming_content).decode())))
    assert any(row[1] == "hunter2-my-password" for row in rows)
    assert "hunter2-my-password" in admin.get(reverse("audit_detail", args=[entry.pk])).content.decode()
