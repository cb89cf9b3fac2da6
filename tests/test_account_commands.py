"""createsuperuser and changepassword are lbadmin's own (Django's, then audited), and
every account change made on USERS is audited field by field: never a password hash."""
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from lbadmin.models import AuditEntry
from lbadmin.roles import ADMIN, role_of

STRONG = "a-long-and-unusual-passphrase"


def no_secret_in(entry: AuditEntry, user: User, password: str) -> bool:
    text = f"{entry.before} {entry.after} {entry.message}"
    return password not in text and user.password not in text and "pbkdf2" not in text and "md5$" not in text


@pytest.mark.django_db
def test_createsuperuser_is_audited_with_the_new_accounts_fields(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STRONG)
    call_command("createsuperuser", "--noinput", "--username", "root2", "--email", "root2@example.org")
    user = User.objects.get(username="root2")
    assert role_of(user) == ADMIN and user.check_password(STRONG)
    entry = AuditEntry.objects.get(action="create", object_type="User")
    assert entry.username == "manage.py createsuperuser" and entry.object_repr == "root2"
    assert entry.after["username"] == "root2" and entry.after["is_superuser"] is True
    assert entry.after["role"] == ADMIN and entry.after["email"] == "root2@example.org"
    assert "password" not in entry.after and no_secret_in(entry, user, STRONG)


@pytest.mark.django_db
def test_createsuperuser_refuses_a_weak_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "x")
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD: This password is too short"):
        call_command("createsuperuser", "--noinput", "--username", "root2", "--email", "")
    assert not User.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_changepassword_is_audited_without_the_password(monkeypatch, make_user):
    user = make_user("viewer", username="dave")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": STRONG)
    call_command("changepassword", "dave")
    user.refresh_from_db()
    assert user.check_password(STRONG)
    entry = AuditEntry.objects.get(action="password_change")
    assert entry.username == "manage.py changepassword" and entry.object_repr == "dave"
    assert entry.changes() == [("password", "old", "changed")] and no_secret_in(entry, user, STRONG)


@pytest.mark.django_db
def test_changepassword_refusing_a_weak_password_changes_and_audits_nothing(monkeypatch, make_user):
    make_user("viewer", username="dave")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "x")
    with pytest.raises(CommandError, match="Aborting"):
        call_command("changepassword", "dave")
    assert not AuditEntry.objects.filter(action="password_change").exists()


@pytest.mark.django_db
def test_the_users_pages_audit_a_create_and_an_edit_field_by_field(client_for, admin_user):
    admin = client_for(admin_user)
    admin.post(reverse("user_add"), {"username": "erin", "role": "viewer", "password": STRONG, "email": "e@example.org"})
    erin = User.objects.get(username="erin")
    created = AuditEntry.objects.get(action="create", object_type="User")
    assert created.after["role"] == "viewer" and created.after["totp"] is False and no_secret_in(created, erin, STRONG)
    admin.post(reverse("user_edit", args=[erin.pk]), {"role": "operator", "is_active": "on", "email": "e@example.org"})
    updated = AuditEntry.objects.get(action="update", object_type="User")
    assert updated.changes() == [("role", "viewer", "operator")]


@pytest.mark.django_db
def test_the_users_page_refuses_a_weak_password(client_for, admin_user):
    response = client_for(admin_user).post(reverse("user_add"), {"username": "erin", "role": "viewer", "password": "x"})
    assert response.status_code == 200 and "too short" in response.content.decode()
    assert not User.objects.filter(username="erin").exists()


@pytest.mark.django_db
def test_the_password_page_audits_a_change_field_by_field(client_for, make_user):
    user = make_user("viewer", username="frank", password="correct-horse-battery")
    client_for(user).post(reverse("password_change"), {"old_password": "correct-horse-battery",
                                                        "new_password1": STRONG, "new_password2": STRONG})
    entry = AuditEntry.objects.get(action="password_change")
    user.refresh_from_db()
    assert entry.username == "frank" and entry.changes() == [("password", "old", "changed")]
    assert no_secret_in(entry, user, STRONG)
