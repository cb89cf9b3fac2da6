"""Role expectations for the io views: name -> (role for GET, role for POST).
Merged into tests/test_roles.py's table."""
from lbadmin.roles import ADMIN, OPERATOR, VIEWER  # noqa: F401

GET_ONLY = "405"
POST_ONLY = "405"
EXPECTED: dict = {
    "config_index": (VIEWER, GET_ONLY),
    "config_export_lvscf": (VIEWER, GET_ONLY),
    "config_export_keepalived": (VIEWER, GET_ONLY),
    "config_backup": (VIEWER, GET_ONLY),
    "config_import": (ADMIN, ADMIN),
    "config_import_confirm": (POST_ONLY, ADMIN),
    "config_restore": (ADMIN, ADMIN),
    "config_restore_confirm": (POST_ONLY, ADMIN),
    "config_template": (ADMIN, ADMIN),
    "config_template_confirm": (POST_ONLY, ADMIN),
}
# How to build each view's URL: name -> function(ids) -> str; ids has virtual, real, director, user, audit.
URLS: dict = {}
