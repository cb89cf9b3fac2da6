"""Roles, checked in one place.

viewer reads; operator also (de)activates, drains and applies; admin also
changes configuration, directors and users. A role is a Django group of the
same name; superusers are admins. A user in no group has no access at all.
"""
from functools import wraps

from django.core.exceptions import PermissionDenied

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
ROLE_CHOICES = [(VIEWER, "Viewer: reads"), (OPERATOR, "Operator: (de)activates and drains"), (ADMIN, "Admin: everything")]
_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def role_of(user) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    cached = getattr(user, "_lbadmin_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = next((r for r in reversed(ROLES) if r in names), None)
    user._lbadmin_role = role
    return role


def has_role(user, needed: str) -> bool:
    role = role_of(user)
    return role is not None and _RANK[role] >= _RANK[needed]


def check_role(user, needed: str) -> None:
    if not has_role(user, needed):
        raise PermissionDenied(f"This needs the {needed} role.")


def role_required(needed: str):
    """Decorator: the view runs only for users holding `needed` or a higher role."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            check_role(request.user, needed)
            return view(request, *args, **kwargs)

        wrapper.required_role = needed
        return wrapper

    return decorate


def set_role(user, role: str) -> None:
    from django.contrib.auth.models import Group

    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    user._lbadmin_role = False


def role_context(request) -> dict:
    user = getattr(request, "user", None)
    return {
        "role": role_of(user) if user else None,
        "can_operate": bool(user) and has_role(user, OPERATOR),
        "can_admin": bool(user) and has_role(user, ADMIN),
    }
