"""Per-user API tokens: made, found from an `Authorization: Bearer` header, revoked.

A token reads `lbat_<prefix>_<secret>`: the prefix (12 hex digits) finds the row and names
the token in lists and in the audit log; the secret is 32 random bytes
(`secrets.token_urlsafe`). The database keeps only the SHA-256 of the whole token, compared
in constant time. A fast hash is enough here, unlike for passwords: a slow hash (PBKDF2)
makes guessing a low-entropy password from its hash expensive, but nobody can guess 256
random bits, fast hash or not; and a slow one would cost every scrape tens of milliseconds.

The token stands for its user: whatever the user's role allows on the pages (lbadmin.roles)
it allows, no more; a deactivated user's tokens stop working with the account.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from . import audit
from .models import ApiToken

PREFIX = "lbat_"
_TOKEN_RE = re.compile(r"^lbat_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per token: a scrape every 15 s need not write
# the database each time.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user, name: str, *, actor: str | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`: its row and the token itself, which is never stored."""
    prefix = secrets.token_hex(6)
    token = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        row = ApiToken.objects.create(user=user, name=name, prefix=prefix, secret_hash=_digest(token))
        audit.record("create", row, object_type="ApiToken", actor=actor,
                     after={"user": user.get_username(), "name": name, "prefix": prefix},
                     message=f"API token {row} for {user.get_username()}")
    return row, token


def revoke(row: ApiToken, *, actor: str | None = None) -> bool:
    """Revoke the token; False when it already was (nothing written)."""
    with transaction.atomic():
        if not ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            return False
        row.refresh_from_db()
        audit.record("revoke", row, object_type="ApiToken", actor=actor,
                     before={"revoked": False}, after={"revoked": True},
                     message=f"API token {row} of {row.user.get_username()} revoked")
    return True


def from_header(value: str | None) -> ApiToken | None:
    """The valid token an `Authorization: Bearer <token>` header carries, else None: no
    header, another scheme, a malformed, unknown or revoked token, or an inactive user all
    look the same to the caller (and so to the client)."""
    scheme, _, token = (value or "").strip().partition(" ")
    match = _TOKEN_RE.match(token.strip()) if scheme.lower() == "bearer" else None
    if match is None:
        return None
    # The prefix is no secret (lists show it); the hash is compared in constant time.
    row = ApiToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(token.strip())):
        return None
    if row.revoked_at is not None or not row.user.is_active:
        return None
    _touch(row)
    return row


def _touch(row: ApiToken) -> None:
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
