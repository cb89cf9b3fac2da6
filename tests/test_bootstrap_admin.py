import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from lbadmin.models import AuditEntry
from lbadmin.roles import ADMIN, role_of


@pytest.mark.django_db
def test_it_creates_an_admin_with_a_generated_password_printed_once(capsys, monkeypatch):
    monkeypatch.delenv("LBADMIN_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("LBADMIN_ADMIN_USER", raising=False)
    call_command("bootstrap_admin")
    out = capsys.readouterr().out
    password = out.split("shown only now: ")[1].strip()
    user = User.objects.get(username="admin")
    assert len(password) >= 12 and user.check_password(password) and role_of(user) == ADMIN
    assert AuditEntry.objects.filter(action="create", object_type="User").exists()
    call_command("bootstrap_admin")
    assert "no account created" in capsys.readouterr().out
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_two_installs_get_different_passwords(capsys, monkeypatch):
    monkeypatch.delenv("LBADMIN_ADMIN_PASSWORD", raising=False)
    call_command("bootstrap_admin")
    first = capsys.readouterr().out.split("shown only now: ")[1].strip()
    User.objects.all().delete()
    call_command("bootstrap_admin")
    second = capsys.readouterr().out.split("shown only now: ")[1].strip()
    assert first != second


@pytest.mark.django_db
def test_it_takes_name_and_password_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("LBADMIN_ADMIN_USER", "ops")
    monkeypatch.setenv("LBADMIN_ADMIN_PASSWORD", "from-the-environment")
    call_command("bootstrap_admin")
    out = capsys.readouterr().out
    assert "from-the-environment" not in out
    assert User.objects.get(username="ops").check_password("from-the-environment")


@pytest.mark.django_db
def test_a_bad_user_name_is_refused(monkeypatch):
    monkeypatch.setenv("LBADMIN_ADMIN_USER", "root; rm")
    with pytest.raises(CommandError, match="LBADMIN_ADMIN_USER"):
        call_command("bootstrap_admin")
