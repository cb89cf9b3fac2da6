"""What turns one configuration into another, in words: the lines a preview shows and
the digest the audit log keeps. Pure: no Django."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config import Config, VirtualServerConfig, scalar_fields


@dataclass
class Change:
    action: str  # "add", "change" or "remove"
    kind: str  # "virtual server", "global settings", "redundancy settings"
    name: str
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.action]
        head = f"{sign} {self.kind} {self.name}".rstrip()
        return head + (": " + "; ".join(self.details) if self.details else "")


@dataclass
class Plan:
    """What an apply did (or, for a dry run, would do)."""

    before: Config
    after: Config
    changes: list[Change]
    include_settings: bool
    dry_run: bool

    def counts(self) -> dict[str, int]:
        counts = {"add": 0, "change": 0, "remove": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def summary_line(self) -> str:
        c = self.counts()
        if not self.changes:
            return "no changes"
        return f"{c['add']} added, {c['change']} changed, {c['remove']} removed"


_PLAIN = re.compile(r"[\w./:%@+,=-]+")


def show(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(show(item) for item in value) if value else "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value == "":
        return "(blank)"
    if isinstance(value, str) and not _PLAIN.fullmatch(value):
        return repr(value)
    return str(value)


def _show_field(name: str, value) -> str:
    if name == "directors" and not value:
        return "(every enabled director)"
    return show(value)


def _field_changes(old, new, prefix: str = "") -> list[str]:
    a, b = scalar_fields(old), scalar_fields(new)
    return [f"{prefix}{k} {_show_field(k, a[k])} → {_show_field(k, b[k])}" for k in a if a[k] != b[k]]


def endpoint(vs: VirtualServerConfig) -> str:
    if vs.fwmark is not None:
        return f"fwmark {vs.fwmark}"
    host = f"[{vs.address}]" if ":" in vs.address else vs.address
    return f"{vs.protocol} {host}:{vs.port}"


def describe(vs: VirtualServerConfig) -> str:
    state = "active" if vs.active else "inactive"
    real = ", ".join(f"{rs.name} {rs.address}" + (f":{rs.port}" if rs.port else "") for rs in vs.real_servers)
    forwarding = f" {vs.forwarding}" if vs.forwarding else ""
    directors = f", directors: {', '.join(vs.directors)}" if vs.directors else ""
    return f"{state} {endpoint(vs)} {vs.scheduler}{forwarding}, {vs.health_check.check_type} check, real servers: {real or '(none)'}{directors}"


def virtual_changes(old: VirtualServerConfig, new: VirtualServerConfig) -> list[str]:
    details = _field_changes(old, new)
    details += _field_changes(old.health_check, new.health_check, "check ")
    old_rs = {rs.name: rs for rs in old.real_servers}
    new_rs = {rs.name: rs for rs in new.real_servers}
    for name, rs in new_rs.items():
        if name not in old_rs:
            details.append(f"real server {name} added ({rs.address})")
        else:
            for item in _field_changes(old_rs[name], rs):
                details.append(f"real server {name} {item}")
    details += [f"real server {name} removed" for name in old_rs if name not in new_rs]
    return details


def diff_configs(before: Config, after: Config, include_settings: bool = True) -> list[Change]:
    """What turns `before` into `after`: settings first, then virtual servers by name."""
    result: list[Change] = []
    if include_settings:
        for kind, old, new in (("global settings", before.cluster, after.cluster),
                               ("redundancy settings", before.redundancy, after.redundancy)):
            details = _field_changes(old, new)
            if details:
                result.append(Change("change", kind, "", details))
    old_vs = {vs.name: vs for vs in before.virtual_servers}
    new_vs = {vs.name: vs for vs in after.virtual_servers}
    for name, vs in new_vs.items():
        if name not in old_vs:
            result.append(Change("add", "virtual server", name, [describe(vs)]))
        else:
            details = virtual_changes(old_vs[name], vs)
            if details:
                result.append(Change("change", "virtual server", name, details))
    result += [Change("remove", "virtual server", name, [endpoint(vs)]) for name, vs in old_vs.items() if name not in new_vs]
    return result


def summary(config: Config, include_settings: bool = True) -> dict:
    """A flat, JSON-ready digest for the audit log: one key per field of every setting,
    virtual server, health check and real server ("vs Exchange-443.check.send_program")."""
    out: dict = {}
    if include_settings:
        out.update({f"global.{k}": v for k, v in scalar_fields(config.cluster).items()})
        out.update({f"redundancy.{k}": v for k, v in scalar_fields(config.redundancy).items()})
    for vs in sorted(config.virtual_servers, key=lambda s: s.name):
        prefix = f"vs {vs.name}"
        out.update({f"{prefix}.{k}": v for k, v in scalar_fields(vs).items()})
        out[f"{prefix}.directors"] = list(vs.directors)
        out.update({f"{prefix}.check.{k}": v for k, v in scalar_fields(vs.health_check).items()})
        for rs in sorted(vs.real_servers, key=lambda r: r.name):
            out.update({f"{prefix}.real {rs.name}.{k}": v for k, v in scalar_fields(rs).items()})
    return out


def field_difference(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ (absent on one side: not there), so an audit entry
    of a change to one field of a thousand virtual servers holds that field."""
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    return ({k: before[k] for k in keys if k in before}, {k: after[k] for k in keys if k in after})
