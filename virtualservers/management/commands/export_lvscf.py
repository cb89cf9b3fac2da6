"""Export the configuration as Piranha's lvs.cf: `manage.py export_lvscf [-o PATH]`.

What lvs.cf cannot carry (IPv6, SCTP, per-server forwarding, ...) is listed on stderr.
"""
from django.core.management.base import BaseCommand, CommandError

from virtualservers import configio
from virtualservers.formats.lvscf import lvscf_report, render_lvscf


def write_output(command: BaseCommand, text: str, output: str | None) -> None:
    if not output or output == "-":
        command.stdout.write(text, ending="")
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise CommandError(f"{output}: cannot write: {exc.strerror or exc}") from None


class Command(BaseCommand):
    help = "Write the configuration as lvs.cf (to stdout, or to -o PATH)."

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def render(self, config):
        return render_lvscf(config, skip_unsupported=True), lvscf_report(config)

    def handle(self, *args, output=None, **options):
        text, notes = self.render(configio.read_config())
        for note in notes:
            self.stderr.write(f"note: {note}")
        write_output(self, text, output)
