"""Export the virtual servers as keepalived.conf blocks: `manage.py export_keepalived [-o PATH]`."""
from virtualservers.formats.keepalived import keepalived_report, render_keepalived

from .export_lvscf import Command as ExportLvsCf


class Command(ExportLvsCf):
    help = "Write the virtual servers as keepalived.conf virtual_server blocks (to stdout, or to -o PATH)."

    def render(self, config):
        return render_keepalived(config), keepalived_report(config)
