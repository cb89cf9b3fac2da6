"""Health history: every transition of a real server's health, kept."""
from django.db import models

from virtualservers.models import RealServer


class HealthEvent(models.Model):
    """One transition (up -> down, down -> up, unknown -> up ...) as the checker saw it.

    Rows are only added; the RealServer row holds the current state, this table the
    history the real-server page shows."""

    real_server = models.ForeignKey(RealServer, on_delete=models.CASCADE, related_name="health_events")
    at = models.DateTimeField(db_index=True)
    old_state = models.CharField(max_length=7, choices=RealServer.Health.choices)
    new_state = models.CharField(max_length=7, choices=RealServer.Health.choices)
    reason = models.CharField(max_length=255, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["real_server", "-at"], name="healthevent_rs_at")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(old_state=models.F("new_state")), name="healthevent_changes_state"),
        ]

    def __str__(self) -> str:
        return f"{self.real_server} {self.old_state} -> {self.new_state} at {self.at:%Y-%m-%d %H:%M:%S}"


class HistoryChunk(models.Model):
    """A stretch of one series' history: a virtual or real server's connections and traffic,
    a slot every `step` seconds from `start`, packed (monitoring.history_store says how
    much, and why it is bounded). Rows of servers since deleted are pruned with the old ones."""

    class Kind(models.TextChoices):
        VIRTUAL = "v", "virtual server"
        REAL = "r", "real server"

    kind = models.CharField(max_length=1, choices=Kind.choices)
    object_id = models.PositiveIntegerField()
    step = models.PositiveIntegerField()  # seconds a slot: 10 or 300
    start = models.BigIntegerField()  # Unix time of the first slot
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id", "step", "start"], name="historychunk_once")]
        indexes = [models.Index(fields=["step", "start"], name="historychunk_step_start")]

    def __str__(self) -> str:
        return f"{self.kind}{self.object_id} every {self.step} s from {self.start}"


from .alerts_models import AlertDelivery, AlertDestination, AlertEvent  # noqa: E402,F401  (alerts, in their own module)
