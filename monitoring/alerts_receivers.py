"""What the layers below report for alerts (lbadmin.signals), written as alert events in
the transaction that sent the signal."""
from django.dispatch import receiver

from lbadmin.signals import apply_failed, drift_found
from virtualservers.models import ApplyRun

from . import alerts_events


@receiver(apply_failed, dispatch_uid="alerts-apply-failed")
def on_apply_failed(sender, run, **kwargs):
    """The first failure, not each retry and 30-s sweep that fails the same way after it
    (an unreachable director would send one every sweep)."""
    previous = ApplyRun.objects.filter(director_id=run.director_id, pk__lt=run.pk).exclude(
        result=ApplyRun.Result.RUNNING).order_by("-pk").first()
    if previous is not None and previous.result == ApplyRun.Result.ERROR and previous.error == run.error:
        return
    alerts_events.record(alerts_events.APPLY_FAILED, director=run.director.name, new_state="error",
                         reason=f"apply {run.pk} ({run.trigger}): {run.error}")


@receiver(drift_found, dispatch_uid="alerts-drift")
def on_drift(sender, director, summary, **kwargs):
    alerts_events.record(alerts_events.DRIFT, director=director.name, new_state="drift",
                         reason=f"live table differs from the last applied one: {summary}")
