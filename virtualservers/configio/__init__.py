"""Configuration in and out, for the CONFIGURATION page and the command-line tools.

    reading the database as a formats.Config (read_config), read as rows, not instances
    store   a formats.Config into the database (write_config)
    files   uploads and files: decode, parse with their format (lvs.cf, keepalived.conf,
            JSON backup); the JSON backup text

What a change is, in words (the preview's lines, the audit digest), is pure and lives in
formats.changes. This package only joins those to the database.
"""
from ..formats.changes import Change, Plan, diff_configs, summary
from .files import BACKUP, FORMAT_NAMES, KEEPALIVED, LVSCF, Source, SourceError, backup_text, decode, include_files, parse_source
from .reading import read_config, real_servers_by_virtual
from .store import ConfigRefused, Progress, write_config, keep_directors, pin_forwarding

__all__ = [
    "BACKUP", "FORMAT_NAMES", "KEEPALIVED", "LVSCF", "Change", "ConfigRefused", "Plan", "Progress", "Source",
    "SourceError", "write_config", "backup_text", "decode", "diff_configs", "include_files", "keep_directors",
    "parse_source",
    "pin_forwarding", "read_config", "real_servers_by_virtual", "summary",
]
