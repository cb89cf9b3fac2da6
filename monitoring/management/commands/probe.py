"""`python manage.py probe TYPE --host H --port P [options]`: run one health check by hand.

Prints one line, `UP <ms> <reason>` or `DOWN <ms> <reason>`; exits 0 when up, 1 when
down, 2 on bad usage. The work is monitoring.checks.cli.probe_main; this only hands it
the arguments untouched (Django's own option parsing would swallow --help and friends)
and makes sure nothing ends in a traceback.
"""
import sys

from django.core.management.base import BaseCommand

from monitoring.checks.cli import EXIT_USAGE, probe_main


class Command(BaseCommand):
    help = "Run one health check (tcp, send-expect, udp, http, https, program, dns) and print UP or DOWN."

    def run_from_argv(self, argv: list[str]) -> None:
        # argv is [manage.py, probe, ...]: everything after the command name is the probe's.
        try:
            code = probe_main(argv[2:], stdout=sys.stdout, stderr=sys.stderr)
        except Exception as exc:  # never a traceback for a hand-run check
            print(f"probe: error: {exc}", file=sys.stderr)
            code = EXIT_USAGE
        sys.stdout.flush()
        sys.exit(code)

    def handle(self, *args, **options):  # call_command() path: same behaviour
        argv = [str(a) for a in args]
        code = probe_main(argv, stdout=self.stdout, stderr=self.stderr)
        if code:
            sys.exit(code)
