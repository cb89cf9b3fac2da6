"""What happens after the desired state changed: every affected director is
reconciled once the transaction commits (see tasks.reconcile)."""
from django.db import transaction


def configuration_changed(reason: str) -> None:
    from .tasks import queue_reconcile_all

    transaction.on_commit(lambda: queue_reconcile_all(reason))
