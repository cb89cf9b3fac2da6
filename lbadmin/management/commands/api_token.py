"""API tokens from the command line, as on the USERS page:

    manage.py api_token create USERNAME [--name NAME]   the token alone on the last line
    manage.py api_token list USERNAME
    manage.py api_token revoke PREFIX

Audited with the actor "manage.py api_token"."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from lbadmin import api_tokens
from lbadmin import validators as v
from lbadmin.models import ApiToken

ACTOR = "manage.py api_token"


class Command(BaseCommand):
    help = "Create, list or revoke a user's API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="make a token; it is printed once, alone on the last line")
        create.add_argument("username")
        create.add_argument("--name", default="cli", help="what the token is for (default: cli)")
        listing = sub.add_parser("list", help="a user's tokens (never the secrets)")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke the token with this prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, **options):
        return getattr(self, f"_{options['action']}")(options)

    def _user(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None

    def _create(self, options) -> None:
        user = self._user(options["username"])
        try:
            name = v.name(options["name"])
        except ValueError as exc:
            raise CommandError(f"--name: {exc}") from None
        if user.api_tokens.filter(name=name, revoked_at__isnull=True).exists():
            raise CommandError(f"{user} already has a valid token named {name!r}; revoke it or choose another name.")
        row, token = api_tokens.issue(user, name, actor=ACTOR)
        self.stdout.write(f"API token {row} for {user}: shown this once, only its hash is kept.")
        self.stdout.write(token)

    def _list(self, options) -> None:
        for row in self._user(options["username"]).api_tokens.all():
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked else "valid"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            self.stdout.write(f"{row.prefix}  {row.name}  created {row.created_at:%Y-%m-%d %H:%M}  used {used}  {state}")

    def _revoke(self, options) -> None:
        row = ApiToken.objects.select_related("user").filter(prefix=options["prefix"]).first()
        if row is None:
            raise CommandError(f"No token with prefix {options['prefix']!r}.")
        if not api_tokens.revoke(row, actor=ACTOR):
            raise CommandError(f"Token {row} was already revoked.")
        self.stdout.write(f"Revoked {row} of {row.user}.")
