"""API tokens: stored hashed, named, revocable, shown once; made on USERS (admins) and by
`manage.py api_token`; every make and revoke audited; the token acts with its user's role."""
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from lbadmin import api_tokens
from lbadmin.models import ApiToken, AuditEntry

pytestmark = pytest.mark.django_db


def test_only_a_hash_is_stored_and_the_prefix_finds_it(viewer):
    row, token = api_tokens.issue(viewer, "prometheus")
    assert token.startswith(f"lbat_{row.prefix}_") and len(token) == len("lbat_") + 12 + 1 + 43
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert token not in str(stored) and token.rsplit("_", 1)[1] not in str(stored)
    assert api_tokens.from_header(f"Bearer {token}").pk == row.pk
    assert api_tokens.from_header(f"bearer   {token}  ").pk == row.pk


def test_two_tokens_never_share_a_secret(viewer):
    tokens = {api_tokens.issue(viewer, f"t{i}")[1] for i in range(20)}
    assert len(tokens) == 20


def test_it_refuses_what_is_not_a_valid_token(viewer):
    row, token = api_tokens.issue(viewer, "prometheus")
    for header in (None, "", token, f"Basic {token}", f"Bearer {token}x", f"Bearer lbat_{row.prefix}_" + "A" * 43,
                   "Bearer lbat_ffffffffffff_" + token.rsplit("_", 1)[1]):
        assert api_tokens.from_header(header) is None, header


def test_creating_and_revoking_are_audited_without_the_token(admin_user, viewer):
    row, token = api_tokens.issue(viewer, "prometheus", actor="test")
    assert api_tokens.revoke(row, actor="test")
    assert not api_tokens.revoke(row, actor="test")  # once: the second writes nothing
    entries = list(AuditEntry.objects.filter(object_type="ApiToken").order_by("id"))
    assert [e.action for e in entries] == ["create", "revoke"]
    assert entries[0].after == {"user": viewer.username, "name": "prometheus", "prefix": row.prefix}
    assert all(token not in str(e.__dict__) and row.secret_hash not in str(e.__dict__) for e in entries)
    assert api_tokens.from_header(f"Bearer {token}") is None


def test_last_used_is_written_at_most_once_a_minute(viewer):
    row, token = api_tokens.issue(viewer, "prometheus")
    assert row.last_used_at is None
    first = api_tokens.from_header(f"Bearer {token}").last_used_at
    assert first is not None
    assert api_tokens.from_header(f"Bearer {token}").last_used_at == first
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert api_tokens.from_header(f"Bearer {token}").last_used_at > first


# manage.py api_token ---------------------------------------------------------------------

def run(*args) -> str:
    out = io.StringIO()
    call_command("api_token", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_token_alone_on_its_last_line(viewer):
    out = run("create", viewer.username, "--name", "prometheus")
    token = out.splitlines()[-1]
    row = api_tokens.from_header(f"Bearer {token}")
    assert row is not None and row.user == viewer and row.name == "prometheus"
    assert AuditEntry.objects.get(object_type="ApiToken", action="create").username == "manage.py api_token"


def test_the_command_lists_and_revokes(viewer):
    token = run("create", viewer.username).splitlines()[-1]
    row = ApiToken.objects.get()
    listing = run("list", viewer.username)
    assert row.prefix in listing and "cli" in listing and "valid" in listing and token not in listing
    assert row.prefix in run("revoke", row.prefix)
    assert "revoked" in run("list", viewer.username)
    with pytest.raises(CommandError, match="already revoked"):
        run("revoke", row.prefix)


@pytest.mark.parametrize("args, words", [
    (("create", "nobody-here"), "No user"),
    (("create", "{user}", "--name", "has space"), "not a valid name"),
    (("revoke", "000000000000"), "No token"),
])
def test_the_command_refuses_with_a_reason(viewer, args, words):
    with pytest.raises(CommandError, match=words):
        run(*(a.format(user=viewer.username) for a in args))


def test_a_name_is_unique_per_user_while_valid(viewer):
    run("create", viewer.username, "--name", "prom")
    with pytest.raises(CommandError, match="already has"):
        run("create", viewer.username, "--name", "prom")
    api_tokens.revoke(ApiToken.objects.get())
    run("create", viewer.username, "--name", "prom")


# USERS page -------------------------------------------------------------------------------

def test_an_admin_makes_a_token_on_users_and_sees_it_once(client_for, admin_user, viewer):
    client = client_for(admin_user)
    response = client.post(reverse("api_token_create"), {"user": viewer.username, "name": "prometheus"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    row = ApiToken.objects.get()
    page = response.content.decode()
    token = page.split('<div class="new-token" id="new-token">', 1)[1].split("<pre>", 1)[1].split("</pre>", 1)[0]
    assert api_tokens.from_header(f"Bearer {token}").pk == row.pk
    again = client.get(reverse("user_list")).content.decode()
    assert token not in again and row.prefix in again and "prometheus" in again


def test_a_bad_name_is_refused_on_the_page(client_for, admin_user, viewer):
    response = client_for(admin_user).post(reverse("api_token_create"), {"user": viewer.username, "name": "a b"})
    assert response.status_code == 200 and "not a valid name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_an_admin_revokes_a_token(client_for, admin_user, viewer):
    row, token = api_tokens.issue(viewer, "prometheus")
    response = client_for(admin_user).post(reverse("api_token_revoke", args=[row.pk]))
    assert response.status_code == 302
    assert api_tokens.from_header(f"Bearer {token}") is None
    assert AuditEntry.objects.filter(object_type="ApiToken", action="revoke", username=admin_user.username).exists()


@pytest.mark.parametrize("role", [None, "viewer", "operator"])
def test_only_admins_make_or_revoke_tokens_even_their_own(client_for, make_user, role):
    user = make_user(role, username=f"u-{role}")
    row, token = api_tokens.issue(user, "mine")
    client = client_for(user)
    assert client.post(reverse("api_token_create"), {"user": user.username, "name": "more"}).status_code == 403
    assert client.post(reverse("api_token_revoke", args=[row.pk])).status_code == 403
    assert ApiToken.objects.filter(user=user).count() == 1 and api_tokens.from_header(f"Bearer {token}") is not None
