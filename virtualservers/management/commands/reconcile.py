"""Preview or apply the commands that make directors' tables equal the
desired one: the look before touching a production director."""
from django.core.management.base import BaseCommand, CommandError

from virtualservers import ipvs
from virtualservers.reconcile import reconcile_director

from ._director import chosen_directors


class Command(BaseCommand):
    help = "Print the plan (ipvsadm commands) for each director and, without --dry-run, apply it."

    def add_arguments(self, parser):
        parser.add_argument("--director", help="only this director (default: every enabled director)")
        parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    def handle(self, *args, director=None, dry_run=False, **options):
        directors = chosen_directors(director)
        if not directors:
            raise CommandError("no enabled director: add one on the DIRECTORS page (or: manage.py lab up)")
        failed = 0
        for index, target in enumerate(directors, 1):
            self.stderr.write(f"[{index}/{len(directors)}] {target.name}: reading the live table...")
            try:
                outcome = reconcile_director(target.pk, trigger="command line", dry_run=dry_run)
            except ipvs.IpvsError as exc:
                failed += 1
                self.stdout.write(f"# {target.name}: FAILED: {exc}")
                continue
            commands = outcome.commands
            self.stdout.write(f"# {target.name}: {len(commands)} command(s){' (dry run, nothing changed)' if dry_run else ''}")
            for command in commands:
                self.stdout.write(f"ipvsadm {command.line}")
            if not dry_run:
                run = outcome.run
                self.stdout.write(f"# {target.name}: {run.get_result_display()} in {run.duration_ms:.0f} ms")
        if failed:
            raise CommandError(f"{failed} of {len(directors)} director(s) failed")
