"""What this app does when the core saved something the directors apply (a director, the
global or the redundancy settings): reconcile, through the outbox, in the same transaction."""
from django.dispatch import receiver

from lbadmin.models import Director
from lbadmin.signals import applied_settings_saved

from .tasks import configuration_changed, request_reconciles


@receiver(applied_settings_saved, dispatch_uid="virtualservers-reconcile-on-core-save")
def reconcile_after_core_save(sender, instance, **kwargs):
    if isinstance(instance, Director):
        if instance.enabled:
            request_reconciles([instance.pk], "director saved")
    else:
        configuration_changed(f"{instance._meta.verbose_name} saved")
