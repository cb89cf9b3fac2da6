"""Print the desired table exactly as `ipvsadm -S -n` prints a table, so that
on a converged director `diff <(manage.py ipvs_rules) <(ipvsadm -S -n)` is empty."""
from django.core.management.base import BaseCommand

from virtualservers import ipvs
from virtualservers.desired import desired_table

from ._director import chosen_directors


class Command(BaseCommand):
    help = "Print the desired IPVS table in `ipvsadm -S -n` format."

    def add_arguments(self, parser):
        parser.add_argument("--director", help="the director whose table to print (default: all virtual servers)")

    def handle(self, *args, director=None, **options):
        target = chosen_directors(director)[0] if director else None
        self.stdout.write(ipvs.render(desired_table(target)), ending="")
