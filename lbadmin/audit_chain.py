"""The audit log's hash chain: each entry carries a SHA-256 over its own content and the
previous entry's hash, so an entry changed, removed or slipped in afterwards breaks the
chain at that point (`manage.py verify_audit` names the first broken link).

The triggers already refuse UPDATE and DELETE; the chain is what still tells the truth
when someone with the database file in hand went around them. Plain Python: the model,
its migration and the command share these functions.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GENESIS = ""  # the "previous hash" of the first entry
CHAINED_FIELDS = ("time", "user_id", "username", "source_ip", "request_id", "action", "object_type",
                  "object_id", "object_repr", "before", "after", "message")


def _plain(value: object) -> object:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")
    return value


def entry_hash(prev_hash: str, fields: Mapping[str, object]) -> str:
    """SHA-256 of the previous hash and the entry's fields, as canonical JSON."""
    content = {name: _plain(fields.get(name)) for name in CHAINED_FIELDS}
    text = json.dumps([prev_hash, content], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    entry_id: int
    reason: str

    def __str__(self) -> str:
        return f"entry #{self.entry_id}: {self.reason}"


def first_break(entries: Iterable[tuple[int, str | None, str | None, Mapping[str, object]]],
                head_hash: str | None = None) -> Break | None:
    """The first broken link of (id, prev_hash, entry_hash, fields) in id order; with
    `head_hash` (what the chain head recorded last), a removed tail is found too."""
    previous, last_id = GENESIS, None
    for entry_id, prev_hash, stored_hash, fields in entries:
        if prev_hash != previous:
            return Break(entry_id, "its link to the entry before it is broken: an entry before it was removed, "
                                   "or slipped in")
        if stored_hash != entry_hash(previous, fields):
            return Break(entry_id, "its content does not match its hash: it was changed after it was written")
        previous, last_id = stored_hash, entry_id
    if head_hash is not None and head_hash != previous:
        return Break(last_id or 0, "the chain head names a later entry: entries after this one were removed")
    return None
