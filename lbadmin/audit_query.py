"""Reading the audit log: the AUDIT page's filters, and what each user may read of it.
The page, its CSV export and the API read through here."""
from django.db.models import QuerySet

from . import accounts
from .forms import AuditFilterForm
from .models import AuditEntry


def filtered(data, user) -> tuple[AuditFilterForm, QuerySet[AuditEntry]]:
    """The filter form bound to `data` (None: unbound) and the entries it selects; an
    invalid filter selects all (the form says what is wrong)."""
    form = AuditFilterForm(data)
    entries = AuditEntry.objects.all()
    if form.is_valid():
        entries = form.filter(entries, names_visible=accounts.names_visible(user))
    return form, entries


def shown(entries, user):
    """The entries as this user may read them: a failed login's typed name (maybe a
    password typed in the wrong field) is "(hidden)" for all but admins. In memory only."""
    visible = accounts.names_visible(user)
    for entry in entries:
        if not visible and entry.action in accounts.HIDDEN_NAME_ACTIONS:
            entry.username = entry.object_repr = accounts.HIDDEN
        yield entry
