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


@pytest.mark.django_db
@pytest.mark.parametrize("weak", ["x", "12345678901", "password123"])
def test_a_weak_password_from_the_environment_is_refused(monkeypatch, weak):
    monkeypatch.setenv("LBADMIN_ADMIN_USER", "admin")
    monkeypatch.setenv("LBADMIN_ADMIN_PASSWORD", weak)
    with pytest.raises(CommandError, match="LBADMIN_ADMIN_PASSWORD is refused: "):
        call_command("bootstrap_admin")
    assert not User.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_a_weak_password_exits_non_zero_with_the_reason(monkeypatch, capsys):
    from django.core.management import execute_from_command_line

    monkeypatch.setenv("LBADMIN_ADMIN_PASSWORD", "x")
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "bootstrap_admin"])
    assert exited.value.code != 0
    assert "This password is too short" in capsys.readouterr().err


@pytest.mark.django_db
def test_the_first_admin_is_audited_with_its_fields(monkeypatch):
    monkeypatch.setenv("LBADMIN_ADMIN_PASSWORD", "from-the-environment")
    call_command("bootstrap_admin")
    entry = AuditEntry.objects.get(action="create")
    assert entry.after["username"] == "admin" and entry.after["role"] == ADMIN and entry.after["is_superuser"] is True
    assert "password" not in entry.after


@pytest.mark.django_db
def test_an_empty_password_variable_means_generate_and_print_one(capsys, monkeypatch):
    monkeypatch.setenv("LBADMIN_ADMIN_PASSWORD", "")
    call_command("bootstrap_admin")
    password = capsys.readouterr().out.split("shown only now: ")[1].strip()
    assert User.objects.get(username="admin").check_password(password)
