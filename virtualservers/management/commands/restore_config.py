"""Restore a JSON backup: `manage.py restore_config PATH [--dry-run]`.

The configuration becomes the backup's, whole: refused entirely when any part is
invalid, by the backup format's rules or the database's.
"""
from virtualservers import configio

from .import_lvscf import ImportCommand


class Command(ImportCommand):
    help = "Restore the whole configuration from a JSON backup (all or nothing)."
    kind = configio.BACKUP
    command_name = "restore_config"
    action = "restore"
    can_add = False
