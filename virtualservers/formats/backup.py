"""The lbadmin JSON backup: every configuration field, versioned, restored all or nothing.

A document is refused as a whole (BackupError "path.to.field: what is wrong") when any
part is wrong: unknown format or version, unknown or mistyped fields, invalid values.
Fields added in later versions of the model may be missing from old backups; they take
their defaults. Only name and address have no default. That is how the version stays 1
while fields are added: real servers' check_address / check_port, the health check's
slow_start and a virtual server's directors (names; empty = every enabled director)
came after the first documents were written, and those documents still load.

Director names are only checked for form here (valid, each once) and sorted; whether
those directors exist is for the installation that restores the document to decide.

to_json() gives the document as a dict; to_text() writes it as a file holds it (what
json.dumps(indent=2) would write, by orjson, several times faster).
"""

from __future__ import annotations

import dataclasses

import orjson

from .config import (
    ClusterConfig,
    Config,
    ConfigError,
    HealthCheckConfig,
    RealServerConfig,
    RedundancyConfig,
    VirtualServerConfig,
    format_path,
    scalar_fields,
    validate_config,
)

FORMAT = "lbadmin-backup"
VERSION = 1


class BackupError(ValueError):
    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)


def to_json(config: Config) -> dict:
    """A JSON-ready dict of the whole configuration."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "cluster": scalar_fields(config.cluster),
        "redundancy": scalar_fields(config.redundancy),
        "virtual_servers": [
            {
                **scalar_fields(vs),
                "real_servers": [scalar_fields(rs) for rs in vs.real_servers],
                "health_check": scalar_fields(vs.health_check),
            }
            for vs in config.virtual_servers
        ],
    }


# --- the document as text -------------------------------------------------------------


def to_text(config: Config) -> str:
    """The document of to_json(config) as a file holds it: indented by two, not
    ASCII-escaped, a final newline: the bytes json.dumps(..., indent=2,
    ensure_ascii=False) writes (tests compare), by orjson, since json encodes the
    indented form in pure Python (0.15 s for a backup of 1,000 x 8)."""
    return orjson.dumps(to_json(config), option=orjson.OPT_INDENT_2).decode() + "\n"


def _expect_dict(value, path: tuple) -> dict:
    if not isinstance(value, dict):
        raise BackupError(format_path(path), "expected an object")
    return value


def _expect_list(value, path: tuple) -> list:
    if not isinstance(value, list):
        raise BackupError(format_path(path), "expected a list")
    return value


def _build(cls, data, path: tuple, nested: dict | None = None):
    """One dataclass from a dict: unknown keys refused, missing ones defaulted."""
    data = _expect_dict(data, path)
    known = {f.name: f for f in dataclasses.fields(cls)}
    nested = nested or {}
    for key in data:
        if key not in known:
            raise BackupError(format_path(path + (key,)), "unknown field")
    values = {}
    for name, f in known.items():
        if name in nested:
            continue
        if name in data:
            values[name] = data[name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BackupError(format_path(path + (name,)), "missing")
    for name, build in nested.items():
        if name in data:
            values[name] = build(data[name], path + (name,))
    return cls(**values)


def _real_servers(value, path: tuple) -> list[RealServerConfig]:
    return [_build(RealServerConfig, item, path + (i,)) for i, item in enumerate(_expect_list(value, path))]


def _health_check(value, path: tuple) -> HealthCheckConfig:
    return _build(HealthCheckConfig, value, path)


def _virtual_servers(value, path: tuple) -> list[VirtualServerConfig]:
    nested = {"real_servers": _real_servers, "health_check": _health_check}
    return [
        _build(VirtualServerConfig, item, path + (i,), nested)
        for i, item in enumerate(_expect_list(value, path))
    ]


def from_json(document) -> Config:
    """A Config from a backup document, or BackupError naming the first wrong field."""
    document = _expect_dict(document, ())
    if document.get("format") != FORMAT:
        raise BackupError("format", f"not an lbadmin backup (expected {FORMAT!r})")
    if document.get("version") != VERSION:
        raise BackupError("version", f"unsupported version {document.get('version')!r} (this lbadmin reads {VERSION})")
    for key in document:
        if key not in ("format", "version", "cluster", "redundancy", "virtual_servers"):
            raise BackupError(key, "unknown field")
    config = Config(
        cluster=_build(ClusterConfig, document.get("cluster", {}), ("cluster",)),
        redundancy=_build(RedundancyConfig, document.get("redundancy", {}), ("redundancy",)),
        virtual_servers=_virtual_servers(document.get("virtual_servers", []), ("virtual_servers",)),
    )
    try:
        validate_config(config)
    except ConfigError as exc:
        problem = exc.problems[0]
        raise BackupError(format_path(problem.path), problem.message) from None
    for vs in config.virtual_servers:
        vs.directors = sorted(vs.directors)  # one spelling of the same set, as read_config gives it
    return config
