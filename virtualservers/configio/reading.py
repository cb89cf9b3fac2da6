"""The configuration in the database, read as a formats.Config: read_config().

Read as rows, not model instances: one values_list() query per table of exactly the
columns the dataclasses carry, grouped here. Instances cost ten times as much at 1,000
virtual servers x 8 real servers (Model.__init__, from_db and the conversion of
timestamps an export never shows: 0.35 s of 0.4 s), and an export, a backup, the
CONFIGURATION page's notes and every import's plan read the whole configuration.

What a row holds is what an instance would: values_list() runs the same field
converters (IPAddressField's canonical spelling, booleans on SQLite); a blank optional
IP (NULL) is '' in the dataclasses, as _text() says, for both ways of reading.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from functools import lru_cache
from operator import attrgetter
from typing import Iterator

from lbadmin.models import ClusterSettings, RedundancySettings

from ..formats.config import (
    LINK_FIELDS,
    ClusterConfig,
    Config,
    HealthCheckConfig,
    RealServerConfig,
    RedundancyConfig,
    VirtualServerConfig,
)
from ..models import HealthCheck, RealServer, VirtualServer


def _text(value) -> str:
    return "" if value is None else str(value)


@lru_cache(maxsize=None)
def _scalar_fields(cls) -> tuple[tuple[str, bool], ...]:
    """(name, is text) of the dataclass's scalar fields: the model columns it carries,
    looked up once, not per row."""
    return tuple((f.name, f.type == "str") for f in dataclasses.fields(cls)
                 if f.name not in ("real_servers", "health_check") and f.name not in LINK_FIELDS)


def _values(model_obj, cls) -> dict:
    """The dataclass's scalar fields read from a model instance, blank IPs as ''."""
    return {name: _text(getattr(model_obj, name)) if text else getattr(model_obj, name)
            for name, text in _scalar_fields(cls)}


def _rows(queryset, key: str, cls) -> Iterator[tuple]:
    """(the `key` column, [the dataclass's fields in its order]) per row of `queryset`:
    the fields as _values() reads them from the row's instance, without making the
    instance. Only a nullable text column can hold a non-text value (NULL: a blank IP);
    the others come from the database as text."""
    fields = _scalar_fields(cls)
    nullable = [index for index, (name, text) in enumerate(fields)
                if text and queryset.model._meta.get_field(name).null]
    for row_key, *values in queryset.values_list(key, *(name for name, _ in fields)):
        for index in nullable:
            values[index] = _text(values[index])
        yield row_key, values


def real_servers_by_virtual() -> dict[int, list[RealServerConfig]]:
    """Every real server's configuration, by its virtual server's id, sorted by name
    (Python's order, as read_config has always given them). One query, no instances:
    for any page that needs the whole table of real servers."""
    grouped: dict[int, list[RealServerConfig]] = defaultdict(list)
    # No ORDER BY: the model's default orders by the virtual server's name, a join.
    for vs_id, values in _rows(RealServer.objects.order_by(), "virtual_server_id", RealServerConfig):
        grouped[vs_id].append(RealServerConfig(*values))
    by_name = attrgetter("name")
    for servers in grouped.values():
        servers.sort(key=by_name)
    return dict(grouped)


def _health_checks() -> dict[int, HealthCheckConfig]:
    return {vs_id: HealthCheckConfig(*values)
            for vs_id, values in _rows(HealthCheck.objects.order_by(), "virtual_server_id", HealthCheckConfig)}


def _director_names() -> dict[int, list[str]]:
    """The names of each virtual server's chosen directors, sorted (Python's order)."""
    names: dict[int, list[str]] = defaultdict(list)
    through = VirtualServer.directors.through.objects.order_by()
    for vs_id, name in through.values_list("virtualserver_id", "director__name"):
        names[vs_id].append(name)
    for listed in names.values():
        listed.sort()
    return dict(names)


def read_config() -> Config:
    """The whole configuration (not the audit log, not the directors themselves, not runtime health).

    Virtual servers in the database's order of names, each one's real servers and
    director names sorted by name; a virtual server without a health check row gets
    the default check.
    """
    # Unsaved defaults when a singleton was never saved: reading must not write.
    cluster = ClusterConfig(**_values(ClusterSettings.objects.filter(pk=1).first() or ClusterSettings(), ClusterConfig))
    redundancy = RedundancyConfig(**_values(RedundancySettings.objects.filter(pk=1).first() or RedundancySettings(), RedundancyConfig))
    # The virtual servers first, then what hangs from them, in the instance reading's order.
    virtual = list(_rows(VirtualServer.objects.order_by("name"), "pk", VirtualServerConfig))
    real, checks, directors = real_servers_by_virtual(), _health_checks(), _director_names()
    # The columns by position, the links and nested parts by name: were a column ever
    # declared after them, the call would fail ("multiple values"), not shift the fields.
    servers = [VirtualServerConfig(*values, directors=directors.get(pk, []), real_servers=real.get(pk, []),
                                   health_check=checks.get(pk) or HealthCheckConfig())
               for pk, values in virtual]
    return Config(cluster=cluster, redundancy=redundancy, virtual_servers=servers)
