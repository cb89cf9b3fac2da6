"""Role expectations for lockouts and TOTP: name -> (role for GET, role for POST).
Merged into tests/test_roles.py's table; ANY_USER pages are one's own account."""
from django.urls import reverse

from lbadmin.roles import ADMIN

GET_ONLY = "405"
EXPECTED: dict = {
    "lockout_lift": (GET_ONLY, ADMIN),
    "user_totp_remove": (GET_ONLY, ADMIN),
}
URLS: dict = {
    "user_totp_remove": lambda ids: reverse("user_totp_remove", args=[ids["user"]]),
}
# Reachable by any logged-in user: one's own authenticator.
ANY_USER = {"totp", "totp_start", "totp_confirm", "totp_remove"}
