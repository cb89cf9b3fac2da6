"""Create the first admin account, once.

The name comes from LBADMIN_ADMIN_USER (default "admin"), the password from
LBADMIN_ADMIN_PASSWORD or is generated and printed this one time. There is
no fixed default password (Piranha's CVE-2000-0248). A given password must pass the
same validators as every other one (settings.AUTH_PASSWORD_VALIDATORS).
"""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lbadmin import accounts, audit, validators
from lbadmin.roles import ADMIN, set_role


class Command(BaseCommand):
    help = "Create the first admin account if no user exists yet."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("Users exist already: no account created.")
            return
        username = os.environ.get("LBADMIN_ADMIN_USER", "admin")
        try:
            validators.unix_user(username)
        except ValueError as exc:
            raise CommandError(f"LBADMIN_ADMIN_USER: {exc}") from None
        given = os.environ.get("LBADMIN_ADMIN_PASSWORD", "")  # docker-compose passes it empty when unset
        password = given or secrets.token_urlsafe(12)
        problems = accounts.password_problems(password, username)
        if problems:
            raise CommandError(f"LBADMIN_ADMIN_PASSWORD is refused: {problems} "
                               "Set a stronger one, or unset it to have one generated.")
        with transaction.atomic():
            user = User.objects.create_superuser(username=username, password=password, email="")
            set_role(user, ADMIN)
            audit.record("create", user, actor="bootstrap_admin", object_type="User",
                         after=accounts.user_snapshot(user), message="first admin account")
        self.stdout.write(self.style.SUCCESS(f"Created admin account '{username}'."))
        if not given:
            self.stdout.write(f"Its password, shown only now: {password}")
