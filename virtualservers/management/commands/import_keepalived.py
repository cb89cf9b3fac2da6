"""Import the virtual_server blocks of a keepalived.conf:
`manage.py import_keepalived PATH [--dry-run] [--replace]`.

What lies outside the common subset (vrrp_instance, global_defs, quorum, ...) is
reported line by line on stderr and not imported; global settings are not touched.
"""
from virtualservers import configio

from .import_lvscf import ImportCommand


class Command(ImportCommand):
    help = "Import the virtual servers of a keepalived.conf (all or nothing)."
    kind = configio.KEEPALIVED
    command_name = "import_keepalived"
