"""The configuration in the database, as a formats.Config, both ways.

read_config() (configio.reading) reads everything an export or backup needs. write_config() writes a
Config in ONE transaction: every object goes through full_clean() (so the models'
rules and the database constraints are checked, not only the format's), the first
refusal rolls everything back, and a real apply is one audit entry plus a reconcile
queued on commit. A dry run does the same writes and rolls them back, so a preview
is refused for exactly the reasons the real apply would be.

Two modes:
- add (replace=False): the incoming virtual servers are added; one whose name exists
  is refused. Global and redundancy settings (when the source carries them) are taken
  only if the database still holds the defaults or the same values.
- replace: the database becomes the incoming configuration. Virtual and real servers
  are matched by name and updated in place (a virtual server keeps its id), missing
  ones are deleted.

Directors: a virtual server's `directors` are names of Director rows (empty = every
enabled director). A name this database does not know is REFUSED, with one problem line
per virtual server, never dropped: dropping it would widen the service to every enabled
director, onto machines it was deliberately kept off. Add the director first, or edit
the names out of the file. lvs.cf and keepalived.conf name no directors, so
parse_source() gives a virtual server read from them the directors its namesake in the
database has (none for a new one): a replace import does not forget where a service runs.
"""
from __future__ import annotations

from typing import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from lbadmin import audit
from lbadmin.models import ClusterSettings, RedundancySettings

from ..formats.changes import Plan, diff_configs, field_difference, show, summary
from ..formats.config import (
    ClusterConfig,
    Config,
    RealServerConfig,
    RedundancyConfig,
    VirtualServerConfig,
    column_fields,
    scalar_fields,
)
from ..models import Director, HealthCheck, RealServer, VirtualServer
from ..tasks import configuration_changed
from .reading import read_config

Progress = Callable[[int, int, str], None]

# Runtime state of a real server: reset when the server it describes moves.
_RS_RUNTIME = {"health": RealServer.Health.UNKNOWN, "health_since": None, "health_reason": "", "health_latency_ms": None}


class ConfigRefused(Exception):
    """The configuration cannot be applied; .problems lists why, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# --- Config -> database ---------------------------------------------------------------


def _settings_refusals(current: Config, incoming: Config) -> list[str]:
    """In add mode, settings are taken only over defaults or equal values."""
    problems = []
    for kind, now, new, default in (("global settings", current.cluster, incoming.cluster, ClusterConfig()),
                                    ("redundancy settings", current.redundancy, incoming.redundancy, RedundancyConfig())):
        now_fields, new_fields, default_fields = scalar_fields(now), scalar_fields(new), scalar_fields(default)
        for d in (now_fields, new_fields, default_fields):
            d.pop("serial_no", None)
        if now_fields != new_fields and now_fields != default_fields:
            differ = ", ".join(f"{k} {show(now_fields[k])} → {show(new_fields[k])}" for k in now_fields if now_fields[k] != new_fields[k])
            problems.append(f"{kind} differ from the database ({differ}); replace to overwrite them")
    return problems


def _director_refusals(incoming: Config) -> list[str]:
    """One line per virtual server that names directors this database does not have."""
    known = set(Director.objects.values_list("name", flat=True))
    problems = []
    for vs in incoming.virtual_servers:
        missing = [name for name in vs.directors if name not in known]
        if missing:
            listed = ", ".join(repr(name) for name in missing)
            noun, it = ("director", "it") if len(missing) == 1 else ("directors", "them")
            problems.append(f"virtual server {vs.name}: no {noun} named {listed} here; add {it} first, "
                            f"or take {it} out of the virtual server's directors (none = every enabled director)")
    return problems


def planned(current: Config, incoming: Config, *, replace: bool, include_settings: bool) -> Config:
    """The configuration the database will hold; ConfigRefused in add mode when something exists."""
    problems = []
    if not replace:
        existing = {vs.name for vs in current.virtual_servers}
        problems += [f"virtual server {vs.name!r} exists; replace to overwrite it"
                     for vs in incoming.virtual_servers if vs.name in existing]
        if include_settings:
            problems += _settings_refusals(current, incoming)
    problems += _director_refusals(incoming)
    if problems:
        raise ConfigRefused(problems)
    settings_from = incoming if include_settings else current
    servers = list(incoming.virtual_servers)
    if not replace:
        servers = list(current.virtual_servers) + servers
    return Config(cluster=settings_from.cluster, redundancy=settings_from.redundancy,
                  virtual_servers=sorted(servers, key=lambda s: s.name))


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{name}: {' '.join(m for e in errs for m in e.messages)}" if name != "__all__" else " ".join(m for e in errs for m in e.messages)
                for name, errs in error.error_dict.items()]
    return list(error.messages)


def _save(obj, where: str) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ConfigRefused([f"{where}: {message}" for message in _messages(exc)]) from None
    obj.save()


def _set(obj, values: dict) -> None:
    for name, value in values.items():
        setattr(obj, name, value)


def _vs_key(vs) -> tuple:
    return ("fwmark", vs.fwmark) if vs.fwmark is not None else (vs.protocol, str(vs.address), vs.port)


def _rs_key(rs) -> tuple:
    return (str(rs.address), rs.port)


def _recreated(old_keys: dict[str, tuple], new_keys: dict[str, tuple]) -> set[str]:
    """Names to delete and create again rather than update in place: those that take
    a key another updated row still holds (a swap), which a row-by-row update cannot do
    without a transient clash."""
    held = {key: name for name, key in old_keys.items() if name in new_keys}
    return {name for name, key in new_keys.items()
            if name in old_keys and key != old_keys[name] and held.get(key, name) != name}


def _write_settings(config: Config) -> None:
    cluster = ClusterSettings.load()
    _set(cluster, column_fields(config.cluster))
    _save(cluster, "global settings")
    redundancy = RedundancySettings.load()
    _set(redundancy, column_fields(config.redundancy))
    _save(redundancy, "redundancy settings")


def _write_real_servers(vs: VirtualServer, wanted: list[RealServerConfig]) -> None:
    where = f"virtual server {vs.name}"
    existing = {rs.name: rs for rs in vs.real_servers.all()}
    new_by_name = {rs.name: rs for rs in wanted}
    recreate = _recreated({n: _rs_key(r) for n, r in existing.items()}, {n: _rs_key(r) for n, r in new_by_name.items()})
    for name, rs in existing.items():
        if name not in new_by_name or name in recreate:
            rs.delete()
    kept = {n: r for n, r in existing.items() if n in new_by_name and n not in recreate}
    # Updates before creations, so a new server may take an endpoint an old one just left.
    for item in sorted(wanted, key=lambda r: r.name not in kept):
        rs = kept.get(item.name) or RealServer(virtual_server=vs)
        moved = rs.pk is not None and (rs.address != item.address or rs.port != item.port)
        _set(rs, column_fields(item))
        if moved:
            _set(rs, _RS_RUNTIME)
        if rs.admin_state != RealServer.AdminState.DRAINING:
            rs.drain_started_at = None
        elif rs.drain_started_at is None:
            rs.drain_started_at = timezone.now()
        _save(rs, f"{where}, real server {item.name}")


def _write_virtual(vs: VirtualServer, item: VirtualServerConfig) -> None:
    old_family = vs.family if vs.pk else None
    _set(vs, column_fields(item))
    if old_family is not None and old_family != vs.family:
        # The model refuses a VIP whose family differs from its real servers': clear them first.
        vs.real_servers.all().delete()
    _save(vs, f"virtual server {item.name}")
    # Names were checked by _director_refusals before anything was written.
    vs.directors.set(Director.objects.filter(name__in=item.directors))
    check = HealthCheck.objects.filter(virtual_server=vs).first() or HealthCheck(virtual_server=vs)
    _set(check, column_fields(item.health_check))
    _save(check, f"virtual server {item.name}, health check")
    _write_real_servers(vs, item.real_servers)


def _write_virtual_servers(result: Config, progress: Progress | None) -> None:
    existing = {vs.name: vs for vs in VirtualServer.objects.all()}
    wanted = {vs.name: vs for vs in result.virtual_servers}
    recreate = _recreated({n: _vs_key(v) for n, v in existing.items()}, {n: _vs_key(v) for n, v in wanted.items()})
    for name, vs in existing.items():
        if name not in wanted or name in recreate:
            vs.delete()
    kept = {n: vs for n, vs in existing.items() if n in wanted and n not in recreate}
    # Updates before creations, so a new virtual server may take an endpoint an old one just left.
    order = sorted(result.virtual_servers, key=lambda s: s.name not in kept)
    for index, item in enumerate(order, start=1):
        _write_virtual(kept.get(item.name) or VirtualServer(), item)
        if progress:
            progress(index, len(order), item.name)


class _DryRun(Exception):
    pass


def write_config(incoming: Config, *, replace: bool = False, include_settings: bool = True,
                 dry_run: bool = False, action: str = "import", source: str = "",
                 actor: str | None = None, progress: Progress | None = None) -> Plan:
    """Write `incoming` all or nothing; ConfigRefused (nothing changed) when any part is refused.

    A dry run checks everything the real apply would and changes nothing. A real apply
    that changes something writes one audit entry (object type "Configuration") and
    queues a reconcile of every director once the transaction commits.
    """
    plan = None
    try:
        with transaction.atomic():
            current = read_config()
            result = planned(current, incoming, replace=replace, include_settings=include_settings)
            found = diff_configs(current, result, include_settings)
            plan = Plan(current, result, found, include_settings, dry_run)
            if include_settings:
                _write_settings(result)
            _write_virtual_servers(result, progress)
            if dry_run:
                raise _DryRun
            if found:
                changed_before, changed_after = field_difference(summary(current, include_settings),
                                                                 summary(result, include_settings))
                audit.record(
                    action, None, object_type="Configuration", object_repr=source or "configuration",
                    before=changed_before, after=changed_after,
                    message=f"{action} of {source or 'a configuration'}: {plan.summary_line()}", actor=actor,
                )
                configuration_changed(f"configuration {action}")
    except _DryRun:
        pass
    return plan


def pin_forwarding(config: Config) -> Config:
    """For sources without global settings (keepalived.conf): a virtual server that
    inherits the source's network type would inherit ours instead, so write it out,
    unless ours is the same."""
    ours = (ClusterSettings.objects.filter(pk=1).first() or ClusterSettings()).network
    theirs = config.cluster.network
    if ours != theirs:
        for vs in config.virtual_servers:
            if not vs.forwarding:
                vs.forwarding = theirs
    return config


def keep_directors(config: Config) -> Config:
    """For sources that name no directors (lvs.cf, keepalived.conf): each virtual server
    gets the directors its namesake in the database has, so a replace import leaves
    where a service runs alone. A new name gets none (every enabled director)."""
    names = [item.name for item in config.virtual_servers]
    held = {vs.name: sorted(d.name for d in vs.directors.all())
            for vs in VirtualServer.objects.filter(name__in=names).prefetch_related("directors")}
    for vs in config.virtual_servers:
        vs.directors = held.get(vs.name, [])
    return config
