"""Import the virtual_server blocks of a keepalived.conf:
`manage.py import_keepalived PATH [--dry-run] [--replace]`.

Included files are read as keepalived reads them (relative to the including file, globs).
Every finding is printed as `PATH:LINE: ...`, with the included file's own path and line:
an error refuses the import (exit status 1, nothing changed); a warning (vrrp_instance,
global_defs, quorum... not imported; a setting given twice) says what lbadmin did, and the
import goes on (exit status 0). Global settings are not touched.
"""
from virtualservers import configio

from .import_lvscf import ImportCommand


class Command(ImportCommand):
    help = "Import the virtual servers of a keepalived.conf and the files it includes (all or nothing)."
    kind = configio.KEEPALIVED
    command_name = "import_keepalived"

    def parse(self, text: str, path: str) -> configio.Source:
        return configio.parse_source(self.kind, text, path, loader=configio.include_files)
