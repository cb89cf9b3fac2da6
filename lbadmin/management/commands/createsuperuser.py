"""Django's createsuperuser, audited, with the password validators in every mode.

Django validates a typed password but not DJANGO_SUPERUSER_PASSWORD (--noinput);
this does both. The new account is an admin (roles.ADMIN) and its creation is in
the audit log with its fields, as one made on the USERS page.
"""
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import createsuperuser
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from lbadmin import accounts, audit
from lbadmin.roles import ADMIN, set_role

ACTOR = "manage.py createsuperuser"


class Command(createsuperuser.Command):
    def handle(self, *args, **options):
        User = get_user_model()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not options["interactive"] and password:
            username = options.get(User.USERNAME_FIELD) or os.environ.get("DJANGO_SUPERUSER_USERNAME", "")
            try:
                accounts.check_password(password, username)
            except ValidationError as exc:
                raise CommandError(f"DJANGO_SUPERUSER_PASSWORD: {' '.join(exc.messages)}") from None
        existing = set(User.objects.values_list("pk", flat=True))
        with transaction.atomic():
            super().handle(*args, **options)
            for user in User.objects.exclude(pk__in=existing):
                set_role(user, ADMIN)
                audit.record("create", user, actor=ACTOR, object_type="User",
                             after=accounts.user_snapshot(user), message="superuser created on the command line")
