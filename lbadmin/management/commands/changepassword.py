"""Django's changepassword (which runs the password validators), audited: the log says
that the password changed and who did it, never the password or its hash."""
import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import changepassword

from lbadmin import accounts

ACTOR = "manage.py changepassword"


class Command(changepassword.Command):
    def handle(self, *args, **options):
        result = super().handle(*args, **options)  # raises CommandError when nothing changed
        username = options["username"] or getpass.getuser()
        User = get_user_model()
        user = User._default_manager.using(options["database"]).get(**{User.USERNAME_FIELD: username})
        accounts.record_password_change(user, actor=ACTOR, message="password changed on the command line")
        return result
