"""Role expectations for the redundancy, real-server preparation and director pages:
name -> (role for GET, role for POST). Merged into tests/test_roles.py's table."""
from django.urls import reverse

from lbadmin.roles import ADMIN, OPERATOR, VIEWER  # noqa: F401

GET_ONLY = "405"
EXPECTED: dict = {
    "real_prep": (VIEWER, GET_ONLY),
    "redundancy_groups": (VIEWER, GET_ONLY),
    "redundancy_group_add": (ADMIN, ADMIN),
    "redundancy_group_edit": (ADMIN, ADMIN),
    "redundancy_group_delete": (GET_ONLY, ADMIN),
    "redundancy_group_apply": (GET_ONLY, OPERATOR),
    "redundancy_group_rehearse": (GET_ONLY, ADMIN),
    "redundancy_group_rehearsals": (VIEWER, GET_ONLY),
}
# How to build each view's URL: name -> function(ids) -> str; ids has virtual, real, director, user, audit, group.
URLS: dict = {
    "real_prep": lambda ids: reverse("real_prep", args=[ids["virtual"]]),
    "redundancy_group_edit": lambda ids: reverse("redundancy_group_edit", args=[ids["group"]]),
    "redundancy_group_delete": lambda ids: reverse("redundancy_group_delete", args=[ids["group"]]),
    "redundancy_group_apply": lambda ids: reverse("redundancy_group_apply", args=[ids["group"]]),
    "redundancy_group_rehearse": lambda ids: reverse("redundancy_group_rehearse", args=[ids["group"]]),
    "redundancy_group_rehearsals": lambda ids: reverse("redundancy_group_rehearsals", args=[ids["group"]]),
}
