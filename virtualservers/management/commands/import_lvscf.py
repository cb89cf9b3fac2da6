"""Import Piranha's lvs.cf: `manage.py import_lvscf PATH [--dry-run] [--replace]`.

A file that cannot be imported prints `PATH:LINE: what is wrong` on stderr and exits
with status 1, with the configuration untouched. A warning (what lbadmin did with
something it could not take as written) prints `warning: PATH:LINE: message` on stderr
and the import goes on: exit status 0, the last line counting the warnings. The other importers (keepalived.conf,
JSON restore) share this command's behaviour through ImportCommand.
"""
import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from virtualservers import configio

# A progress line every this many virtual servers, for imports long enough to need one.
PROGRESS_EVERY = 25


class ImportFailed(CommandError):
    """Printed as is (no "CommandError:" prefix, no traceback), exit status 1."""


def command_line_actor(command: str) -> str:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"{who} (manage.py {command})"


class ImportCommand(BaseCommand):
    kind = configio.LVSCF
    command_name = "import_lvscf"
    action = "import"
    can_add = True  # a restore always replaces: it is the whole configuration

    def add_arguments(self, parser):
        parser.add_argument("path", help="the file to read ('-' for standard input)")
        parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
        if self.can_add:
            parser.add_argument("--replace", action="store_true",
                                help="make the configuration equal the file: overwrite existing virtual servers "
                                     "and settings, delete virtual servers the file does not have")

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ImportFailed as exc:
            if options.get("traceback") or not getattr(self, "_called_from_command_line", False):
                raise
            self.stderr.write(str(exc))
            sys.exit(1)

    def read(self, path: str) -> str:
        try:
            data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
        except OSError as exc:
            raise ImportFailed(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            return configio.decode(data, path)
        except configio.SourceError as exc:
            raise ImportFailed(str(exc)) from None

    def parse(self, text: str, path: str) -> configio.Source:
        return configio.parse_source(self.kind, text, path)

    def handle(self, *args, path: str, dry_run: bool = False, replace: bool = False, **options):
        text = self.read(path)
        try:
            source = self.parse(text, path)
        except configio.SourceError as exc:
            raise ImportFailed(str(exc)) from None
        for warning in source.warnings:
            self.stderr.write(f"warning: {warning}")
        total = len(source.config.virtual_servers)

        def progress(done: int, count: int, name: str) -> None:
            if count >= PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == count):
                self.stderr.write(f"{'checked' if dry_run else 'written'} {done}/{count} virtual servers")

        if total >= PROGRESS_EVERY:
            self.stderr.write(f"{path}: {total} virtual servers read")
        try:
            plan = configio.write_config(
                source.config, replace=replace or not self.can_add, include_settings=source.include_settings,
                dry_run=dry_run, action=self.action, source=path, actor=command_line_actor(self.command_name),
                progress=progress,
            )
        except configio.ConfigRefused as exc:
            raise ImportFailed("\n".join(f"{path}: {problem}" for problem in exc.problems)) from None
        for change in plan.changes:
            self.stdout.write(str(change))
        count = len(source.warnings)
        warned = f" ({count} warning{'s' if count != 1 else ''} on stderr)" if count else ""
        if dry_run:
            self.stdout.write(f"dry run: {plan.summary_line()} would be made; nothing changed{warned}")
        else:
            self.stdout.write(f"{path}: {plan.summary_line()}{warned}")


class Command(ImportCommand):
    help = "Import Piranha's lvs.cf (all or nothing)."
