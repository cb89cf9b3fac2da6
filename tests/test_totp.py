"""The optional TOTP second factor: enrol (secret shown once, on a POST), log in with
user + password + code, refused without it, and admins sent to enrol when required."""
import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from lbadmin.models import AuditEntry

GOOD = "correct-horse-battery"


def code(device: TOTPDevice, drift: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"


def login(client, username, otp_token=""):
    return client.post(reverse("login"), {"username": username, "password": GOOD, "otp_token": otp_token})


@pytest.fixture
def carol(make_user):
    return make_user("operator", username="carol", password=GOOD)


@pytest.mark.django_db
def test_a_user_enrols_with_the_secret_shown_once_and_it_is_audited(client_for, carol):
    c = client_for(carol)
    assert "ENROL AN AUTHENTICATOR" in c.get(reverse("totp")).content.decode()
    page = c.post(reverse("totp_start")).content.decode()
    device = TOTPDevice.objects.get(user=carol)
    assert not device.confirmed and "otpauth://totp/" in page and "<svg" in page
    secret = page.split('class="secret">')[1].split("<")[0]
    assert len(secret) >= 32 and secret not in c.get(reverse("totp")).content.decode()
    wrong = c.post(reverse("totp_confirm"), {"otp_token": "000000"})
    assert wrong.status_code == 200 and "does not match" in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes the next try wait 1 s after a wrong code
    assert c.post(reverse("totp_confirm"), {"otp_token": code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    entry = AuditEntry.objects.get(action="totp_enrol")
    assert entry.username == "carol" and entry.changes() == [("totp", False, True)]
    assert secret not in str(entry.before) + str(entry.after) + entry.message


@pytest.mark.django_db
def test_an_enrolled_user_logs_in_with_password_and_code(client, carol):
    device = TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    assert login(client, "carol", code(device)).status_code == 302
    assert client.get(reverse("control")).status_code == 200
    assert client.session["otp_device_id"] == device.persistent_id


@pytest.mark.django_db
def test_a_login_without_the_code_is_refused_when_enrolled(client, carol):
    device = TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    for token in ("", "123", f"{(int(code(device)) + 1) % 10**6:06d}"):
        response = login(client, "carol", token)
        assert response.status_code == 200 and "6-digit code" in response.content.decode()
        assert client.get(reverse("control")).status_code == 302


@pytest.mark.django_db
def test_a_user_without_an_authenticator_logs_in_with_the_password_alone(client, carol):
    assert login(client, "carol").status_code == 302


@pytest.mark.django_db
def test_removing_an_authenticator_is_audited_and_an_admin_can_remove_a_users(client_for, carol, admin_user):
    TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    assert client_for(carol).post(reverse("totp_remove")).status_code == 302
    assert not TOTPDevice.objects.exists()
    TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    assert client_for(admin_user).post(reverse("user_totp_remove", args=[carol.pk])).status_code == 302
    removals = AuditEntry.objects.filter(action="totp_remove", object_repr="carol")
    assert [e.username for e in removals.order_by("id")] == ["carol", admin_user.username]
    assert all(e.changes() == [("totp", True, False)] for e in removals)


@pytest.mark.django_db
def test_admins_are_sent_to_enrol_before_anything_else_when_required(settings, client_for, admin_user, viewer):
    settings.LBADMIN_REQUIRE_TOTP_FOR_ADMINS = True
    admin = client_for(admin_user)
    for name in ("control", "user_list", "audit_list"):
        response = admin.get(reverse(name))
        assert response.status_code == 302 and response["Location"] == reverse("totp"), name
    assert admin.get(reverse("totp")).status_code == 200
    assert client_for(viewer).get(reverse("control")).status_code == 200
    admin.post(reverse("totp_start"))
    device = TOTPDevice.objects.get(user=admin_user)
    assert admin.post(reverse("totp_confirm"), {"otp_token": code(device)}).status_code == 302
    assert admin.get(reverse("control")).status_code == 200


@pytest.mark.django_db
def test_an_admin_session_without_a_code_is_ended_when_required(settings, client, client_for, admin_user):
    settings.LBADMIN_REQUIRE_TOTP_FOR_ADMINS = True
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    unverified = client_for(admin_user)
    assert unverified.get(reverse("control"))["Location"] == reverse("login")
    assert unverified.get(reverse("control"))["Location"].startswith(reverse("login"))
    assert login(client, admin_user.username, code(device)).status_code == 302
    assert client.get(reverse("control")).status_code == 200
