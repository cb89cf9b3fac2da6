"""Virtual servers, their real servers and health checks: the desired state."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from lbadmin import validators as v
from lbadmin.fields import IPAddressField
from lbadmin.models import ClusterSettings, Director, NullBlankIPs
from virtualservers.formats import validate as rules
from virtualservers.formats.choices import (
    ADMIN_STATE_CHOICES,
    CHECK_TYPE_CHOICES,
    DNS_TYPE_CHOICES,
    FORWARDING_CHOICES,
    HTTP_METHOD_CHOICES,
    INITIAL_STATE_CHOICES,
    LOAD_MONITOR_CHOICES,
    PROTOCOL_CHOICES,
    SCHEDULER_CHOICES,
)

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# The lists and their labels live in formats/choices.py, with the importers' rules.
Protocol = v.text_choices("Protocol", PROTOCOL_CHOICES, module=__name__)
Scheduler = v.text_choices("Scheduler", SCHEDULER_CHOICES, module=__name__)
Forwarding = v.text_choices("Forwarding", FORWARDING_CHOICES, module=__name__, member_names={"": "INHERIT"})


class VirtualServer(NullBlankIPs):
    name = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=False)
    address = IPAddressField("virtual IP address")
    vip_nmask = models.CharField("VIP netmask", max_length=39, blank=True)
    device = models.CharField(max_length=31, blank=True, help_text="Interface the VIP is raised on, e.g. eth0:1")
    port = models.PositiveIntegerField("application port", default=80)
    protocol = models.CharField(max_length=4, choices=Protocol.choices, default=Protocol.TCP)
    fwmark = models.PositiveBigIntegerField("firewall mark", null=True, blank=True)
    scheduler = models.CharField("scheduling", max_length=5, choices=Scheduler.choices, default=Scheduler.WLC)
    sched_flags = models.CharField("scheduler flags", max_length=64, blank=True, default="",
                                   help_text="Only for source hashing (sh) and Maglev hashing (mh)")
    persistent = models.PositiveIntegerField("persistence (s)", default=0, help_text="0 turns persistence off")
    pmask = models.CharField("persistence netmask", max_length=39, blank=True)
    forwarding = models.CharField(max_length=6, choices=Forwarding.choices, blank=True, default="")
    sorry_server = IPAddressField(blank=True, null=True)
    sorry_port = models.PositiveIntegerField(blank=True, null=True)
    quiesce_server = models.BooleanField(default=False, help_text="On failure set weight 0 instead of removing")
    load_monitor = models.CharField(max_length=8, choices=LOAD_MONITOR_CHOICES, default="none")
    drain_timeout = models.PositiveIntegerField("drain timeout (s)", default=300)
    directors = models.ManyToManyField(Director, blank=True, related_name="virtual_servers", help_text="None selected: every enabled director")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(name__regex=NAME_REGEX), name="vs_name_charset"),
            models.CheckConstraint(condition=v.between("port", 1, rules.MAX_PORT), name="vs_port_range"),
            models.CheckConstraint(condition=v.between("sorry_port", 1, rules.MAX_PORT, null=True), name="vs_sorry_port_range"),
            models.CheckConstraint(condition=v.between("fwmark", 1, rules.MAX_FWMARK, null=True), name="vs_fwmark_range"),
            models.CheckConstraint(condition=v.one_of("scheduler", SCHEDULER_CHOICES), name="vs_scheduler_known"),
            models.CheckConstraint(condition=v.one_of("protocol", PROTOCOL_CHOICES), name="vs_protocol_known"),
            models.CheckConstraint(condition=v.one_of("forwarding", FORWARDING_CHOICES), name="vs_forwarding_known"),
            models.CheckConstraint(condition=v.one_of("load_monitor", LOAD_MONITOR_CHOICES), name="vs_load_monitor_known"),
            models.CheckConstraint(condition=v.between("persistent", 0, rules.MAX_IPVS_TIMEOUT), name="vs_persistent_range"),
            models.CheckConstraint(condition=v.between("drain_timeout", 0, rules.MAX_DRAIN_TIMEOUT), name="vs_drain_timeout_range"),
            models.UniqueConstraint(fields=["protocol", "address", "port"], condition=models.Q(fwmark__isnull=True), name="vs_unique_service"),
            models.UniqueConstraint(fields=["fwmark"], condition=models.Q(fwmark__isnull=False), name="vs_unique_fwmark"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def family(self) -> int:
        return v.family_of(self.address)

    @property
    def endpoint(self) -> str:
        if self.fwmark:
            return f"fwmark {self.fwmark}"
        host = f"[{self.address}]" if self.family == 6 else self.address
        return f"{host}:{self.port}"

    def effective_forwarding(self, cluster: ClusterSettings | None = None) -> str:
        return self.forwarding or (cluster or ClusterSettings.load()).network

    def clean(self):
        errors: dict[str, str] = {}
        v.collect(errors, "name", v.name, self.name)
        v.collect(errors, "port", v.port, self.port)
        v.collect(errors, "fwmark", v.fwmark, self.fwmark)
        v.collect(errors, "device", v.device, self.device)
        v.collect(errors, "scheduler", v.scheduler, self.scheduler)
        v.collect(errors, "sorry_port", v.port, self.sorry_port)
        v.collect(errors, "persistent", v.persistence, self.persistent)
        v.collect(errors, "drain_timeout", v.drain_timeout, self.drain_timeout)
        family = v.family_if_valid(self.address)  # an invalid VIP: the field says why
        if family:
            v.collect(errors, "vip_nmask", v.netmask, self.vip_nmask, family)
            v.collect(errors, "pmask", v.netmask, self.pmask, family)
            if v.family_if_valid(self.sorry_server):
                v.collect(errors, "sorry_server", v.same_family, self.address, self.sorry_server)
            if "address" not in errors and self.pk:
                for rs in self.real_servers.all():
                    try:
                        v.same_family(self.address, rs.address, "the new VIP")
                    except ValueError:
                        errors["address"] = f"Real server {rs.name} ({rs.address}) is IPv{rs.family}: the VIP must be of the same family."
                        break
        v.add_problems(errors, v.virtual_server_problems(self))
        if "name" not in errors and self.name:
            clash = VirtualServer.objects.filter(name=self.name).exclude(pk=self.pk)
            if clash.exists():
                errors["name"] = "A virtual server with this name exists."
        if family and not errors:
            clash = VirtualServer.objects.exclude(pk=self.pk)
            if self.fwmark:
                other = clash.filter(fwmark=self.fwmark).first()
                if other:
                    errors["fwmark"] = f"Firewall mark {self.fwmark} is used by {other.name}."
            else:
                other = clash.filter(fwmark__isnull=True, protocol=self.protocol, address=self.address, port=self.port).first()
                if other:
                    errors["port"] = f"{self.protocol.upper()} {self.endpoint} is already served by {other.name}."
        if errors:
            raise ValidationError(errors)

    def check_or_default(self) -> "HealthCheck":
        """The virtual server's health check; an unsaved default (TCP connect) when it has
        none yet. Never saved here: a page that shows it must not write (a GET changes nothing)."""
        try:
            return self.health_check
        except HealthCheck.DoesNotExist:
            return HealthCheck(virtual_server=self)

    def target_directors(self):
        """The enabled directors that carry this virtual server: the chosen ones and the
        rest of their redundancy groups (a backup carries what its primary carries), or
        every enabled director when none is chosen."""
        chosen = self.directors.all() if self.pk else Director.objects.none()
        if not chosen.exists():
            return Director.objects.filter(enabled=True)
        groups = [g for g in chosen.values_list("group_id", flat=True) if g is not None]
        return Director.objects.filter(models.Q(pk__in=chosen.values("pk")) | models.Q(group_id__in=groups), enabled=True)


class RealServer(NullBlankIPs):
    AdminState = v.text_choices("AdminState", ADMIN_STATE_CHOICES, module=__name__, qualname="RealServer.AdminState")

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        UP = "up", "Up"
        DOWN = "down", "Down"

    virtual_server = models.ForeignKey(VirtualServer, on_delete=models.CASCADE, related_name="real_servers")
    name = models.CharField(max_length=64)
    address = IPAddressField()
    port = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the virtual server's port")
    weight = models.PositiveIntegerField(default=1)
    admin_state = models.CharField(max_length=8, choices=AdminState.choices, default=AdminState.DISABLED)
    forwarding = models.CharField(max_length=6, choices=Forwarding.choices, blank=True, default="")
    # keepalived's connect_ip / connect_port: check another address or port than
    # the one traffic goes to (a management interface, a health endpoint, or a
    # real server only reachable through a forwarder from where checks run).
    check_address = IPAddressField("check address", null=True, blank=True,
                                                 help_text="Blank: the real server's address")
    check_port = models.PositiveIntegerField("check port", null=True, blank=True,
                                             help_text="Blank: the real server's port")
    drain_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Runtime health, written by the health checker, never by forms.
    health = models.CharField(max_length=7, choices=Health.choices, default=Health.UNKNOWN, editable=False)
    health_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The state before the current one: slow start ramps only a server that was down.
    health_previous = models.CharField(max_length=7, choices=Health.choices, blank=True, editable=False)
    health_reason = models.CharField(max_length=255, blank=True, editable=False)
    health_latency_ms = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["virtual_server", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(name__regex=NAME_REGEX), name="rs_name_charset"),
            models.CheckConstraint(condition=v.between("port", 1, rules.MAX_PORT, null=True), name="rs_port_range"),
            models.CheckConstraint(condition=v.between("weight", 0, rules.MAX_WEIGHT), name="rs_weight_range"),
            models.CheckConstraint(condition=v.between("check_port", 1, rules.MAX_PORT, null=True), name="rs_check_port_range"),
            models.CheckConstraint(condition=v.one_of("admin_state", ADMIN_STATE_CHOICES), name="rs_admin_state_known"),
            models.CheckConstraint(condition=v.one_of("forwarding", FORWARDING_CHOICES), name="rs_forwarding_known"),
            models.UniqueConstraint(fields=["virtual_server", "name"], name="rs_unique_name"),
            models.UniqueConstraint(fields=["virtual_server", "address", "port"], name="rs_unique_endpoint"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def family(self) -> int:
        return v.family_of(self.address)

    @property
    def effective_port(self) -> int:
        return self.port or self.virtual_server.port

    @property
    def check_target(self) -> tuple[str, int]:
        return self.check_address or self.address, self.check_port or self.effective_port

    def effective_forwarding(self, cluster: ClusterSettings | None = None) -> str:
        return self.forwarding or self.virtual_server.effective_forwarding(cluster)

    # Admin state: the operator's word, kept apart from health (the checker's word).
    ACTIONS = {"activate": AdminState.ENABLED, "deactivate": AdminState.DISABLED, "drain": AdminState.DRAINING}

    def toggle_action(self) -> str:
        """What the ACTIVATE/DEACTIVATE button does now: an enabled server is deactivated,
        a disabled or draining one is activated (a drain is cancelled)."""
        return "deactivate" if self.admin_state == self.AdminState.ENABLED else "activate"

    def set_admin_state(self, action: str, now=None) -> None:
        """activate, deactivate or drain; a drain starts its clock now. Not saved here."""
        self.admin_state = self.ACTIONS[action]
        draining = self.admin_state == self.AdminState.DRAINING
        self.drain_started_at = (now or timezone.now()) if draining else None

    @property
    def is_up(self) -> bool:
        return self.health == self.Health.UP

    def drain_deadline(self):
        if self.admin_state != self.AdminState.DRAINING or not self.drain_started_at:
            return None
        return self.drain_started_at + timezone.timedelta(seconds=self.virtual_server.drain_timeout)

    def clean(self):
        errors: dict[str, str] = {}
        v.collect(errors, "name", v.name, self.name)
        v.collect(errors, "port", v.port, self.port)
        v.collect(errors, "weight", v.weight, self.weight)
        v.collect(errors, "check_port", v.port, self.check_port)
        address_ok = v.family_if_valid(self.address)  # an invalid one: the field says why
        if address_ok and self.virtual_server_id:
            v.collect(errors, "address", v.same_family, self.virtual_server.address, self.address)
        if self.virtual_server_id and address_ok and not errors:
            siblings = RealServer.objects.filter(virtual_server_id=self.virtual_server_id).exclude(pk=self.pk)
            if siblings.filter(name=self.name).exists():
                errors["name"] = "This virtual server already has a real server with this name."
            elif siblings.filter(address=self.address, port=self.port).exists():
                errors["address"] = "This address and port are already a real server of this virtual server."
        if errors:
            raise ValidationError(errors)


class HealthCheck(models.Model):
    CheckType = v.text_choices("CheckType", CHECK_TYPE_CHOICES, module=__name__, qualname="HealthCheck.CheckType")

    virtual_server = models.OneToOneField(VirtualServer, on_delete=models.CASCADE, related_name="health_check")
    check_type = models.CharField(max_length=11, choices=CheckType.choices, default=CheckType.TCP)
    send_program = models.CharField("sending program", max_length=1024, blank=True, help_text="%h is the real server's address, %p its port")
    send = models.CharField(max_length=1024, blank=True, help_text=r"Escapes \r \n \t \\ are understood")
    expect = models.CharField(max_length=1024, blank=True, help_text="'*' accepts any reply")
    use_regex = models.BooleanField("treat expect as a regular expression", default=False)
    interval = models.PositiveIntegerField("interval (s)", default=6)
    timeout = models.PositiveIntegerField("timeout (s)", default=6)
    rise = models.PositiveIntegerField(default=2, help_text="Successes in a row to come back (Piranha's re-entry)")
    fall = models.PositiveIntegerField(default=3, help_text="Failures in a row to be taken out")
    initial_state = models.CharField(max_length=4, choices=INITIAL_STATE_CHOICES, default="up")
    slow_start = models.PositiveIntegerField("slow start (s)", default=0, help_text="Ramp back to full weight over this time; 0 = at once")
    http_method = models.CharField(max_length=7, default="GET", choices=HTTP_METHOD_CHOICES)
    http_path = models.CharField(max_length=1024, default="/")
    http_host = models.CharField("Host header", max_length=253, blank=True)
    http_status = models.CharField("accepted status codes", max_length=64, default="200-399")
    http_body = models.CharField("body contains", max_length=1024, blank=True)
    verify_tls = models.BooleanField("verify certificate", default=True)
    sni = models.CharField("SNI name", max_length=253, blank=True)
    dns_name = models.CharField(max_length=253, blank=True)
    dns_type = models.CharField(max_length=5, default="A", choices=DNS_TYPE_CHOICES)
    dns_expect = models.CharField(max_length=253, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=v.one_of("check_type", CHECK_TYPE_CHOICES), name="hc_check_type_known"),
            models.CheckConstraint(condition=v.one_of("initial_state", INITIAL_STATE_CHOICES), name="hc_initial_state_known"),
            models.CheckConstraint(condition=v.one_of("http_method", HTTP_METHOD_CHOICES), name="hc_http_method_known"),
            models.CheckConstraint(condition=v.one_of("dns_type", DNS_TYPE_CHOICES), name="hc_dns_type_known"),
            models.CheckConstraint(condition=v.between("interval", 1, rules.MAX_CHECK_SECONDS), name="hc_interval_range"),
            models.CheckConstraint(condition=v.between("timeout", 1, rules.MAX_CHECK_SECONDS), name="hc_timeout_range"),
            models.CheckConstraint(condition=v.between("rise", 1, rules.MAX_CHECK_COUNT), name="hc_rise_range"),
            models.CheckConstraint(condition=v.between("fall", 1, rules.MAX_CHECK_COUNT), name="hc_fall_range"),
            models.CheckConstraint(condition=v.between("slow_start", 0, rules.MAX_CHECK_SECONDS), name="hc_slow_start_range"),
        ]

    def __str__(self) -> str:
        return f"{self.get_check_type_display()} check of {self.virtual_server}"

    def clean(self):
        # The same rules as the importers and the backup loader (formats/validate.py),
        # for every field whatever the check type: a backup carries them all.
        errors: dict[str, str] = {}
        for field in ("interval", "timeout"):
            v.collect(errors, field, v.check_seconds, getattr(self, field))
        for field in ("rise", "fall"):
            v.collect(errors, field, v.check_count, getattr(self, field))
        v.collect(errors, "slow_start", v.slow_start, self.slow_start)
        v.collect(errors, "send_program", v.send_program, self.send_program)
        if self.check_type == self.CheckType.PROGRAM:
            v.collect(errors, "send_program", v.program_location, self.send_program,
                      settings.LBADMIN_CHECK_PROGRAM_DIR)
        # send, expect and the body may hold control characters (\r\n); the others are one line.
        for field in ("send", "expect", "http_body"):
            v.collect(errors, field, v.text, getattr(self, field))
        for field in ("http_host", "sni", "dns_expect"):
            v.collect(errors, field, v.single_line, getattr(self, field))
        v.collect(errors, "http_path", v.http_path, self.http_path)
        v.collect(errors, "http_status", v.http_status, self.http_status)
        v.collect(errors, "dns_name", v.dns_name, self.dns_name)
        v.add_problems(errors, v.health_check_problems(self))
        if errors:
            raise ValidationError(errors)


class ApplyRun(models.Model):
    """One reconcile of one director: what was planned, run and seen."""

    class Result(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        OK = "ok", "Applied"
        NOOP = "noop", "Already in sync"
        ERROR = "error", "Failed"

    director = models.ForeignKey(Director, on_delete=models.CASCADE, related_name="apply_runs")
    trigger = models.CharField(max_length=32)
    request_id = models.CharField(max_length=64, blank=True)
    result = models.CharField(max_length=7, choices=Result.choices, default=Result.PENDING)
    plan = models.TextField(blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    drift = models.BooleanField(default=False)
    stage = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.director} {self.trigger} {self.result}"

    @property
    def in_flight(self) -> bool:
        return self.result in (self.Result.PENDING, self.Result.RUNNING)

    @property
    def badge(self) -> str:
        """The CSS badge of the result: ok (applied or nothing to do), error, or busy."""
        if self.result in (self.Result.OK, self.Result.NOOP):
            return "ok"
        return "error" if self.result == self.Result.ERROR else "draining"


class ReconcileRequest(models.Model):
    """An outbox row: a change asks for a reconcile of a director by writing this row in
    its own transaction, so the request is committed with the change or not at all.
    virtualservers.tasks.drain_outbox sends the rows to Celery (one reconcile per director,
    however many rows) and deletes them; rows left by a Redis outage wait here, shown as
    "waiting for Redis", until the next drain after Redis is back."""

    director = models.ForeignKey(Director, on_delete=models.CASCADE, related_name="reconcile_requests")
    trigger = models.CharField(max_length=32)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # A drainer claims rows with one conditional UPDATE before sending them; a claim older
    # than outbox.CLAIM_SECONDS belongs to a drainer that died and may be taken again.
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The ids of the virtual servers the change touched (the reconcile builds the desired
    # table of those only); NULL: anything may have changed (the whole table is built).
    # Plain ids, not a relation: a deleted virtual server must still be reconciled away.
    touched = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.director_id} {self.trigger}"
