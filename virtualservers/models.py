"""Virtual servers, their real servers and health checks: the desired state."""
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from lbadmin import validators as v
from lbadmin.fields import IPAddressField
from lbadmin.models import ClusterSettings, Director, Network, NullBlankIPs

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Protocol(models.TextChoices):
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
    SCTP = "sctp", "SCTP"


class Scheduler(models.TextChoices):
    RR = "rr", "Round robin (rr)"
    WRR = "wrr", "Weighted round robin (wrr)"
    LC = "lc", "Least connections (lc)"
    WLC = "wlc", "Weighted least connections (wlc)"
    LBLC = "lblc", "Locality-based least connections (lblc)"
    LBLCR = "lblcr", "Locality-based least connections with replication (lblcr)"
    DH = "dh", "Destination hashing (dh)"
    SH = "sh", "Source hashing (sh)"
    SED = "sed", "Shortest expected delay (sed)"
    NQ = "nq", "Never queue (nq)"
    MH = "mh", "Maglev hashing (mh)"
    FO = "fo", "Weighted failover (fo)"
    OVF = "ovf", "Weighted overflow (ovf)"
    TWOS = "twos", "Weighted random twos choice (twos)"


class Forwarding(models.TextChoices):
    INHERIT = "", "Inherit"
    NAT = Network.NAT.value, "NAT (masquerading)"
    DIRECT = Network.DIRECT.value, "Direct routing"
    TUNNEL = Network.TUNNEL.value, "Tunneling"


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
    persistent = models.PositiveIntegerField("persistence (s)", default=0, help_text="0 turns persistence off")
    pmask = models.CharField("persistence netmask", max_length=39, blank=True)
    forwarding = models.CharField(max_length=6, choices=Forwarding.choices, blank=True, default="")
    sorry_server = IPAddressField(blank=True, null=True)
    sorry_port = models.PositiveIntegerField(blank=True, null=True)
    quiesce_server = models.BooleanField(default=False, help_text="On failure set weight 0 instead of removing")
    load_monitor = models.CharField(
        max_length=8,
        choices=[("none", "none"), ("rup", "rup"), ("ruptime", "ruptime"), ("uptime", "uptime")],
        default="none",
    )
    drain_timeout = models.PositiveIntegerField("drain timeout (s)", default=300)
    directors = models.ManyToManyField(Director, blank=True, related_name="virtual_servers", help_text="None selected: every enabled director")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(name__regex=NAME_REGEX), name="vs_name_charset"),
            models.CheckConstraint(condition=models.Q(port__gte=1, port__lte=65535), name="vs_port_range"),
            models.CheckConstraint(condition=models.Q(sorry_port__isnull=True) | models.Q(sorry_port__gte=1, sorry_port__lte=65535), name="vs_sorry_port_range"),
            models.CheckConstraint(condition=models.Q(fwmark__isnull=True) | models.Q(fwmark__gte=1, fwmark__lte=4294967295), name="vs_fwmark_range"),
            models.CheckConstraint(condition=models.Q(scheduler__in=[c.value for c in Scheduler]), name="vs_scheduler_known"),
            models.CheckConstraint(condition=models.Q(protocol__in=[c.value for c in Protocol]), name="vs_protocol_known"),
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
        family = None
        if self.address:
            try:
                family = v.family_of(self.address)
            except ValueError as exc:
                errors["address"] = str(exc)
        if family:
            v.collect(errors, "vip_nmask", v.netmask, self.vip_nmask, family)
            v.collect(errors, "pmask", v.netmask, self.pmask, family)
            if self.sorry_server:
                v.collect(errors, "sorry_server", v.same_family, self.address, self.sorry_server)
            if "address" not in errors and self.pk:
                for rs in self.real_servers.all():
                    try:
                        v.same_family(self.address, rs.address, "the new VIP")
                    except ValueError:
                        errors["address"] = f"Real server {rs.name} ({rs.address}) is IPv{rs.family}: the VIP must be of the same family."
                        break
        if self.pmask and not self.persistent:
            errors.setdefault("pmask", "A persistence netmask needs a persistence timeout.")
        if self.sorry_port and not self.sorry_server:
            errors.setdefault("sorry_port", "Set the sorry server's address too.")
        if self.fwmark and self.protocol == Protocol.SCTP:
            errors.setdefault("fwmark", "Firewall-mark services carry TCP and UDP; SCTP is not supported with marks.")
        if "name" not in errors and self.name:
            clash = VirtualServer.objects.filter(name=self.name).exclude(pk=self.pk)
            if clash.exists():
                errors["name"] = "A virtual server with this name exists."
        if not errors:
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
    class AdminState(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"
        DRAINING = "draining", "Draining"

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
            models.CheckConstraint(condition=models.Q(port__isnull=True) | models.Q(port__gte=1, port__lte=65535), name="rs_port_range"),
            models.CheckConstraint(condition=models.Q(weight__gte=0, weight__lte=65535), name="rs_weight_range"),
            models.CheckConstraint(condition=models.Q(check_port__isnull=True) | models.Q(check_port__gte=1, check_port__lte=65535), name="rs_check_port_range"),
            models.CheckConstraint(condition=models.Q(admin_state__in=["enabled", "disabled", "draining"]), name="rs_admin_state_known"),
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
        if self.address:
            try:
                v.ip(self.address)
            except ValueError as exc:
                errors["address"] = str(exc)
        if self.address and "address" not in errors and self.virtual_server_id:
            v.collect(errors, "address", v.same_family, self.virtual_server.address, self.address)
        if self.virtual_server_id and not errors:
            siblings = RealServer.objects.filter(virtual_server_id=self.virtual_server_id).exclude(pk=self.pk)
            if siblings.filter(name=self.name).exists():
                errors["name"] = "This virtual server already has a real server with this name."
            elif siblings.filter(address=self.address, port=self.port).exists():
                errors["address"] = "This address and port are already a real server of this virtual server."
        if errors:
            raise ValidationError(errors)


class HealthCheck(models.Model):
    class CheckType(models.TextChoices):
        TCP = "tcp", "TCP connect"
        SEND_EXPECT = "send_expect", "Send / expect over TCP"
        UDP = "udp", "Send / expect over UDP"
        HTTP = "http", "HTTP"
        HTTPS = "https", "HTTPS"
        PROGRAM = "program", "External program"
        DNS = "dns", "DNS query"
        ICMP = "icmp", "ICMP echo (ping)"
        NONE = "none", "None (always up)"

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
    initial_state = models.CharField(max_length=4, choices=[("up", "Up"), ("down", "Down")], default="up")
    slow_start = models.PositiveIntegerField("slow start (s)", default=0, help_text="Ramp back to full weight over this time; 0 = at once")
    http_method = models.CharField(max_length=7, default="GET", choices=[(m, m) for m in ("GET", "HEAD", "POST", "OPTIONS")])
    http_path = models.CharField(max_length=1024, default="/")
    http_host = models.CharField("Host header", max_length=253, blank=True)
    http_status = models.CharField("accepted status codes", max_length=64, default="200-399")
    http_body = models.CharField("body contains", max_length=1024, blank=True)
    verify_tls = models.BooleanField("verify certificate", default=True)
    sni = models.CharField("SNI name", max_length=253, blank=True)
    dns_name = models.CharField(max_length=253, blank=True)
    dns_type = models.CharField(max_length=5, default="A", choices=[(t, t) for t in ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")])
    dns_expect = models.CharField(max_length=253, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(interval__gte=1), name="hc_interval_positive"),
            models.CheckConstraint(condition=models.Q(timeout__gte=1), name="hc_timeout_positive"),
            models.CheckConstraint(condition=models.Q(rise__gte=1), name="hc_rise_positive"),
            models.CheckConstraint(condition=models.Q(fall__gte=1), name="hc_fall_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_check_type_display()} check of {self.virtual_server}"

    def clean(self):
        import re

        errors: dict[str, str] = {}
        for field in ("interval", "timeout", "rise", "fall"):
            value = getattr(self, field)
            if value is not None and value < 1:
                errors[field] = "Must be at least 1."
        if self.check_type == self.CheckType.PROGRAM and not self.send_program.strip():
            errors["send_program"] = "An external-program check needs the program to run."
        if self.send_program:
            import shlex

            try:
                shlex.split(self.send_program)
            except ValueError as exc:
                errors["send_program"] = f"Cannot split the command line: {exc}."
        if self.use_regex:
            for field in ("expect", "http_body"):
                try:
                    re.compile(getattr(self, field))
                except re.error as exc:
                    errors[field] = f"Not a valid regular expression: {exc}."
        if self.check_type in (self.CheckType.HTTP, self.CheckType.HTTPS):
            if not self.http_path.startswith("/"):
                errors["http_path"] = "The path starts with '/'."
            if not re.fullmatch(r"\s*\d{3}(\s*-\s*\d{3})?(\s*,\s*\d{3}(\s*-\s*\d{3})?)*\s*", self.http_status or ""):
                errors["http_status"] = "Write codes and ranges, e.g. 200-399 or 200,301-302."
        if self.check_type == self.CheckType.DNS and not self.dns_name:
            errors["dns_name"] = "A DNS check needs the name to query."
        if self.check_type == self.CheckType.UDP and not self.send:
            errors["send"] = "A UDP check needs something to send."
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
