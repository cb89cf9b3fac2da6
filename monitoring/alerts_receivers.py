"""What the layers below report for alerts (lbadmin.signals), written as alert events in
the transaction that sent the signal."""
from django.dispatch import receiver

from lbadmin.signals import apply_failed, drift_found

from . import alerts_events


@receiver(apply_failed, dispatch_uid="alerts-apply-failed")
def on_apply_failed(sender, run, **kwargs):
    alerts_events.record(alerts_events.APPLY_FAILED, director=run.director.name, new_state="error",
                         reason=f"apply {run.pk} ({run.trigger}): {run.error}")


@receiver(drift_found, dispatch_uid="alerts-drift")
def on_drift(sender, director, summary, **kwargs):
    alerts_events.record(alerts_events.DRIFT, director=director.name, new_state="drift",
                         reason=f"live table differs from the last applied one: {summary}")
