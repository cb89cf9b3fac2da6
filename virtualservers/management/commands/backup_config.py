"""Back the whole configuration up as one JSON document: `manage.py backup_config [-o PATH]`.

Global and redundancy settings, virtual servers, real servers and health checks; not the
audit log, not the directors, not runtime health.
"""
from virtualservers import configio

from .export_lvscf import Command as ExportLvsCf


class Command(ExportLvsCf):
    help = "Write the whole configuration as a JSON backup (to stdout, or to -o PATH)."

    def render(self, config):
        return configio.backup_text(config), []
