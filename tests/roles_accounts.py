"""Role expectations for lockouts and TOTP: name -> (role for GET, role for POST).
Merged into tests/test_roles.py's table; ANY_USER pages are one's own account."""
from django.urls import reverse

from lbadmin.roles import ADMIN

GET_ONLY = "405"
EXPECTED: dict = {
    "lockout_lift": (GET_ONLY, ADMIN),
    "user_totp_remove": (GET_ONLY, ADMIN),
    # API tokens are made and revoked by admins only: a token outlives a password change
    # and needs no second factor, so minting one is an admin's act, audited.
    "api_token_create": (GET_ONLY, ADMIN),
    "api_token_revoke": (GET_ONLY, ADMIN),
}


def _token_of(ids: dict) -> int:
    from lbadmin.models import ApiToken

    row = ApiToken.objects.filter(user_id=ids["user"]).first()
    if row is None:
        row = ApiToken.objects.create(user_id=ids["user"], name="t", prefix="0123456789ab", secret_hash="0" * 64)
    return row.pk


URLS: dict = {
    "user_totp_remove": lambda ids: reverse("user_totp_remove", args=[ids["user"]]),
    "api_token_revoke": lambda ids: reverse("api_token_revoke", args=[_token_of(ids)]),
}
# Reachable by any logged-in user: one's own authenticator.
ANY_USER = {"totp", "totp_start", "totp_confirm", "totp_remove"}
# Not judged by the session's role at all: /metrics takes an API token (whose user needs the
# viewer role, checked by lbadmin.roles as for the pages) or an allowed address
# (tests/test_metrics.py, "Access").
NOT_BY_SESSION = {"metrics"}
