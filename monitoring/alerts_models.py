"""Alerts, stored: where they go (AlertDestination), what happened (AlertEvent, the
outbox row written in its cause's transaction) and each message sent or tried
(AlertDelivery, one per destination and batch, with every attempt's result)."""
from django.db import models

from virtualservers.models import VirtualServer

from .alerts_kinds import EVENT_CHOICES


class AlertDestination(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Mail (SMTP)"
        WEBHOOK = "webhook", "Webhook (JSON, signed)"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WEBHOOK)
    to_addresses = models.TextField(blank=True, help_text="Mail: one address per line (or comma-separated).")
    url = models.CharField(max_length=500, blank=True, help_text="Webhook: an http:// or https:// URL.")
    secret = models.CharField(max_length=200, blank=True,
                              help_text="Webhook: the HMAC-SHA256 key the receiver verifies the signature with.")
    events = models.JSONField(default=list, help_text="The kinds of event sent here.")
    virtual_servers = models.ManyToManyField(VirtualServer, blank=True, related_name="alert_destinations",
                                             help_text="Only events about these virtual servers (none: all). "
                                                       "Director-wide events (drift, applies, VRRP, checker) "
                                                       "are sent whatever is chosen here.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def recipients(self) -> list[str]:
        return [a.strip() for a in self.to_addresses.replace(",", "\n").splitlines() if a.strip()]

    def target(self) -> str:
        return ", ".join(self.recipients()) if self.kind == self.Kind.EMAIL else self.url

    def secret_hint(self) -> str:
        """What the page shows of the secret: never the secret itself."""
        return f"set ({len(self.secret)} characters, ends …{self.secret[-2:]})" if self.secret else "not set"


class AlertEvent(models.Model):
    """Something to tell people about, as it happened; routed once to the destinations
    that want it (routed_at set), kept as the history the messages list."""

    kind = models.CharField(max_length=16, choices=EVENT_CHOICES, db_index=True)
    at = models.DateTimeField()
    director = models.CharField(max_length=64, blank=True)
    virtual_server = models.ForeignKey(VirtualServer, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    virtual_server_name = models.CharField(max_length=64, blank=True)
    real_server = models.CharField(max_length=64, blank=True)
    old_state = models.CharField(max_length=32, blank=True)
    new_state = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject()}"

    def subject(self) -> str:
        where = "/".join(p for p in (self.virtual_server_name, self.real_server) if p) or self.director
        return " ".join(p for p in (where, self.change()) if p)

    def change(self) -> str:
        if self.old_state and self.new_state:
            return f"{self.old_state} -> {self.new_state}"
        return self.new_state or self.old_state


class AlertDelivery(models.Model):
    """One message to one destination: a batch of events (grouped over the window) or a
    test. Pending until sent, retried with backoff, failed after the last attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    destination = models.ForeignKey(AlertDestination, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    destination_name = models.CharField(max_length=64)
    events = models.ManyToManyField(AlertEvent, blank=True, related_name="deliveries")
    test = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    summary = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True, help_text="When the next attempt may run.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    log = models.TextField(blank=True, help_text="Every attempt's result, one line each.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.destination_name}: {self.summary or 'test'} ({self.status})"
