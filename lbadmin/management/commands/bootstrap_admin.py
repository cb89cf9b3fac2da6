"""Create the first admin account, once.

The name comes from LBADMIN_ADMIN_USER (default "admin"), the password from
LBADMIN_ADMIN_PASSWORD or is generated and printed this one time. There is
no fixed default password (Piranha's CVE-2000-0248).
"""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lbadmin import audit, validators
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
        password = os.environ.get("LBADMIN_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_superuser(username=username, password=password, email="")
            set_role(user, ADMIN)
            audit.record("create", user, actor="bootstrap_admin", object_type="User",
                         after={"username": username, "role": ADMIN}, message="first admin account")
        self.stdout.write(self.style.SUCCESS(f"Created admin account '{username}'."))
        if "LBADMIN_ADMIN_PASSWORD" not in os.environ:
            self.stdout.write(f"Its password, shown only now: {password}")
