"""Configuration files in: decoding an upload and parsing it with its format (lvs.cf,
keepalived.conf, JSON backup); and the JSON backup out."""
from __future__ import annotations

import glob
import json
import os
import socket
from dataclasses import dataclass

from django.conf import settings

from ..formats.backup import BackupError, from_json, to_text
from ..formats.config import Config
from ..formats.keepalived import IncludeError, KeepalivedError, Loader, parse_keepalived
from ..formats.lvscf import LvsCfError, parse_lvscf
from .store import keep_directors, pin_forwarding


def backup_text(config: Config) -> str:
    """The JSON backup document of a configuration, as written to a file: indented by
    two, not ASCII-escaped, a final newline (formats.backup.to_text)."""
    return to_text(config)


# --- reading files --------------------------------------------------------------------

LVSCF, KEEPALIVED, BACKUP = "lvscf", "keepalived", "backup"
FORMAT_NAMES = {LVSCF: "lvs.cf", KEEPALIVED: "keepalived.conf", BACKUP: "JSON backup"}


class SourceError(ValueError):
    """A file that cannot be read, as "PATH:LINE: what is wrong" (or "PATH: field: ...")."""


@dataclass
class Source:
    config: Config
    warnings: list[str]
    include_settings: bool  # does this format carry the global and redundancy settings?


def decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def resolve_host(name: str) -> str:
    """An lvs.cf host name's IPv4 address, looked up once at import (Piranha looked it up
    at each start); OSError when it has none."""
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"no IPv4 address for {name}")
    return str(infos[0][4][0])


def include_files(pattern: str, including: str) -> list[tuple[str, str]]:
    """keepalived's `include`, from the files on this machine: the pattern relative to the
    including file's directory, globbed and sorted as keepalived does (directories skipped);
    each file read and decoded. A formats.keepalived.Loader."""
    full = os.path.normpath(os.path.join(os.path.dirname(including), os.path.expanduser(pattern)))
    files = []
    for name in sorted(glob.glob(full)):
        if os.path.isdir(name):
            continue
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise IncludeError(f"cannot read {name}: {exc.strerror or exc}") from None
        try:
            files.append((name, data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise KeepalivedError(name, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    return files


def parse_source(kind: str, text: str, path: str, *, loader: Loader | None = None) -> Source:
    """One file, parsed and validated by its format; SourceError when it cannot be imported.

    loader: for keepalived.conf, how its `include` lines are read (include_files for a file
    on disk); None for an upload, whose includes are warnings."""
    try:
        if kind == LVSCF:
            config, warnings = parse_lvscf(text, path, resolve=resolve_host)
            return Source(keep_directors(config), warnings, True)
        if kind == KEEPALIVED:
            config, report = parse_keepalived(text, path, loader=loader,
                                              program_dir=settings.LBADMIN_CHECK_PROGRAM_DIR)
            return Source(keep_directors(pin_forwarding(config)), report, False)
        if kind == BACKUP:
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
            return Source(from_json(document), [], True)
    except (LvsCfError, KeepalivedError) as exc:
        raise SourceError(str(exc)) from None
    except BackupError as exc:
        raise SourceError(f"{path}: {exc}") from None
    except RecursionError:
        raise SourceError(f"{path}: nested too deeply") from None
    raise ValueError(f"unknown format {kind!r}")
