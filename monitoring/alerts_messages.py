"""What a message says: one event, or a batch of them grouped over the window, as a
webhook's JSON and as mail. A flapping real server becomes one line ("web/CAS1 changed
state 20 times ..."), and a message lists at most MAX_ITEMS events."""
from __future__ import annotations

import socket
from collections import Counter

from .alerts_models import AlertEvent

MAX_ITEMS = 50  # events listed in one message; the rest are counted ("omitted")
MAX_STATES_SHOWN = 8  # states spelled out in a flap's line


def event_fields(event: AlertEvent) -> dict:
    return {"id": event.pk, "event": event.kind, "at": event.at.isoformat(), "director": event.director,
            "virtual_server": event.virtual_server_name, "real_server": event.real_server,
            "old_state": event.old_state, "new_state": event.new_state, "reason": event.reason}


def lines(events: list[AlertEvent]) -> list[str]:
    """One line per subject: a single change as it was, repeated changes as a flap."""
    by_subject: dict[tuple, list[AlertEvent]] = {}
    for event in events:
        subject = (event.kind, event.director, event.virtual_server_name, event.real_server)
        by_subject.setdefault(subject, []).append(event)
    out = []
    for (kind, director, vs, rs), group in by_subject.items():
        where = "/".join(p for p in (vs, rs) if p) or director or "lbadmin"
        last = group[-1]
        if len(group) == 1:
            change = last.change() or kind
            out.append(f"{where}: {change}" + (f" ({last.reason})" if last.reason else ""))
            continue
        states = [group[0].old_state] + [e.new_state for e in group]
        shown = " -> ".join(states[:MAX_STATES_SHOWN]) + (" -> ..." if len(states) > MAX_STATES_SHOWN else "")
        out.append(f"{where} flapped {len(group)} times in {_span(group)}: {shown}; now {last.new_state}"
                   + (f" ({last.reason})" if last.reason else ""))
    return out


def _span(group: list[AlertEvent]) -> str:
    return f"{(group[-1].at - group[0].at).total_seconds():.0f} s"


def summary(events: list[AlertEvent]) -> str:
    if not events:
        return "test message"
    found = lines(events)
    if len(found) == 1:
        return found[0][:500]
    kinds = Counter(e.kind for e in events)
    return (f"{len(events)} events ({', '.join(f'{n} {k}' for k, n in kinds.items())}): " + "; ".join(found))[:500]


def payload(events: list[AlertEvent], *, delivery_id: int, test: bool = False, now=None) -> dict:
    """The webhook body (README.md, "Alerts"): the event's fields at the top for a single
    event, "grouped" with the list for several; always the list and a one-line summary."""
    listed = [event_fields(e) for e in events[:MAX_ITEMS]]
    top = dict(listed[0]) if len(events) == 1 else {
        "event": "test" if test else "grouped", "at": (now.isoformat() if now else ""), "director": "",
        "virtual_server": "", "real_server": "", "old_state": "", "new_state": "", "reason": ""}
    top.pop("id", None)
    return {**top, "message_id": delivery_id, "test": test, "host": socket.gethostname(),
            "summary": summary(events) if events else "lbadmin test message: this destination works",
            "count": len(events), "events": listed, "omitted": max(0, len(events) - MAX_ITEMS)}


def mail(events: list[AlertEvent], *, test: bool = False) -> tuple[str, str]:
    """(subject, body) of the mail."""
    if test:
        return ("[lbadmin] test message",
                f"This is a test from lbadmin on {socket.gethostname()}: mail to this destination works.\n")
    body = [f"lbadmin on {socket.gethostname()}", ""] + lines(events[:MAX_ITEMS * 4])[:MAX_ITEMS]
    body += ["", "Events:"] + [f"{e.at:%Y-%m-%d %H:%M:%S} UTC  {e.kind}  {e.subject()}"
                               + (f"  ({e.reason})" if e.reason else "") for e in events[:MAX_ITEMS]]
    if len(events) > MAX_ITEMS:
        body.append(f"... and {len(events) - MAX_ITEMS} more (see ALERTS in lbadmin)")
    return f"[lbadmin] {summary(events)}"[:200], "\n".join(body) + "\n"
