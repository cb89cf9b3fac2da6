"""Role expectations for the io views: name -> (role for GET, role for POST).
Merged into tests/test_roles.py's table."""
from lbadmin.roles import ADMIN, OPERATOR, VIEWER  # noqa: F401

GET_ONLY = "405"
POST_ONLY = "405"
EXPECTED: dict = {}
# How to build each view's URL: name -> function(ids) -> str; ids has virtual, real, director, user, audit.
URLS: dict = {}
