"""The shapes every operation shares: refusals, and which statuses each kind of operation
documents (the OpenAPI document lists them, so a client and schemathesis know them)."""
from __future__ import annotations

from typing import Any, Optional

from ninja import Schema


class Error(Schema):
    detail: str


class Invalid(Schema):
    detail: str
    errors: dict[str, list[str]]


class Conflict(Schema):
    """409: `current` for a stale version, `consequences` for a harm to confirm."""
    detail: str
    current: Optional[dict[str, Any]] = None
    consequences: Optional[list[str]] = None


REFUSALS = {401: Error, 403: Error}
READ = {**REFUSALS, 404: Error}
WRITE = {**READ, 409: Conflict, 422: Invalid}


def responses(ok: Any, base: dict = READ, status: int = 200) -> dict:
    return {status: ok, **base}
