"""Core models: directors, cluster-wide settings, and the append-only audit log."""
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from lbadmin import audit_chain, textdiff
from lbadmin import validators as v
from lbadmin.fields import IPAddressField
from virtualservers.formats import validate as rules
from virtualservers.formats.choices import NETWORK_CHOICES, RSH_COMMAND_CHOICES, SERVICE_CHOICES


class NullBlankIPs(models.Model):
    """Store a blank optional IP as NULL, whether it came from a form ('')
    or from code (None), so comparisons and the audit log see one value."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        for field in self._meta.concrete_fields:
            if isinstance(field, IPAddressField) and field.null and getattr(self, field.attname) == "":
                setattr(self, field.attname, None)
        super().save(*args, **kwargs)


class SingletonModel(NullBlankIPs):
    """A settings row that always exists with pk=1."""

    class Meta:
        abstract = True

    @classmethod
    def load(cls):
        """The settings row, or its defaults, unsaved, when none was saved yet: a page that
        shows settings must not write (a migration creates the rows; the first save of the
        form creates it otherwise, audited like any change)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)


Network = v.text_choices("Network", NETWORK_CHOICES, module=__name__)


class ClusterSettings(SingletonModel):
    """Piranha's GLOBAL SETTINGS and the other global keys of lvs.cf."""

    serial_no = models.PositiveIntegerField(default=0, editable=False)
    service = models.CharField(max_length=3, choices=SERVICE_CHOICES, default="lvs")
    primary = IPAddressField("primary server public IP", blank=True, null=True)
    primary_private = IPAddressField("primary server private IP", blank=True, null=True)
    network = models.CharField("network type", max_length=6, choices=Network.choices, default=Network.NAT)
    nat_router_ip = IPAddressField("NAT router IP", blank=True, null=True)
    nat_router_device = models.CharField("NAT router device", max_length=15, blank=True)
    nat_nmask = models.CharField("NAT router netmask", max_length=39, blank=True)
    tcp_timeout = models.PositiveIntegerField("TCP timeout (s)", default=0, help_text="0 leaves the kernel's value")
    tcpfin_timeout = models.PositiveIntegerField("TCP FIN timeout (s)", default=0, help_text="0 leaves the kernel's value")
    udp_timeout = models.PositiveIntegerField("UDP timeout (s)", default=0, help_text="0 leaves the kernel's value")
    debug_level = models.CharField(max_length=16, default="NONE")
    rsh_command = models.CharField(max_length=3, choices=RSH_COMMAND_CHOICES, default="ssh")
    hard_shutdown = models.BooleanField(default=False)
    active_cmd = models.CharField(max_length=255, blank=True)
    inactive_cmd = models.CharField(max_length=255, blank=True)
    ipvsadm_path = models.CharField(max_length=255, default="/sbin/ipvsadm")
    # Set on every director by reconcile (virtualservers/reconcile.py); off leaves the
    # director's own value alone.
    expire_quiescent_template = models.BooleanField(
        "expire persistence templates of weight-0 servers", default=True,
        help_text="net.ipv4.vs.expire_quiescent_template=1 on the directors. A persistent service keeps a "
                  "template per client that sends the client back to the same real server for the whole "
                  "persistence timeout, even after the server is drained or quiesced to weight 0. On, the "
                  "kernel drops such a template when the client returns, so the client goes to a server "
                  "that takes traffic and a drain ends with its connections. Off: lbadmin leaves the "
                  "director's value as it is.")
    expire_nodest_conn = models.BooleanField(
        "expire connections of removed servers", default=True,
        help_text="net.ipv4.vs.expire_nodest_conn=1 on the directors. When a real server is removed from "
                  "the table (a drain that timed out, a failed health check), the kernel drops its "
                  "connections at their next packet, so the client gets a reset and reconnects to a live "
                  "server instead of hanging until its timeout. Off: lbadmin leaves the director's value "
                  "as it is.")

    def ipvs_sysctls(self) -> dict[str, str]:
        """The IPVS sysctls lbadmin sets on every director (scripts.SET_IPVS_SYSCTLS)."""
        wanted = {"expire_nodest_conn": self.expire_nodest_conn,
                  "expire_quiescent_template": self.expire_quiescent_template}
        return {name: "1" for name, on in wanted.items() if on}

    class Meta:
        verbose_name = "global settings"
        verbose_name_plural = "global settings"
        constraints = [
            models.CheckConstraint(condition=v.one_of("service", SERVICE_CHOICES), name="cluster_service_known"),
            models.CheckConstraint(condition=v.one_of("network", NETWORK_CHOICES), name="cluster_network_known"),
            models.CheckConstraint(condition=v.one_of("rsh_command", RSH_COMMAND_CHOICES), name="cluster_rsh_command_known"),
            models.CheckConstraint(condition=v.between("serial_no", 0, rules.MAX_SERIAL_NO), name="cluster_serial_no_range"),
            models.CheckConstraint(condition=v.between("tcp_timeout", 0, rules.MAX_IPVS_TIMEOUT), name="cluster_tcp_timeout_range"),
            models.CheckConstraint(condition=v.between("tcpfin_timeout", 0, rules.MAX_IPVS_TIMEOUT), name="cluster_tcpfin_timeout_range"),
            models.CheckConstraint(condition=v.between("udp_timeout", 0, rules.MAX_IPVS_TIMEOUT), name="cluster_udp_timeout_range"),
        ]

    def __str__(self) -> str:
        return "Global settings"

    def clean(self):
        errors = {}
        v.collect(errors, "serial_no", v.serial_no, self.serial_no)
        v.collect(errors, "nat_router_device", v.device, self.nat_router_device)
        if self.nat_nmask:
            family = v.family_if_valid(self.nat_router_ip) or 4
            v.collect(errors, "nat_nmask", v.netmask, self.nat_nmask, family)
        if self.network == Network.NAT and self.nat_router_device and not self.nat_router_ip:
            errors["nat_router_ip"] = "A NAT router device needs the router's IP."
        for field in ("tcp_timeout", "tcpfin_timeout", "udp_timeout"):
            v.collect(errors, field, v.ipvs_timeout, getattr(self, field))
        v.collect(errors, "debug_level", v.debug_level, self.debug_level)
        for field in ("active_cmd", "inactive_cmd"):
            v.collect(errors, field, v.single_line, getattr(self, field))
        v.collect(errors, "ipvsadm_path", v.path, self.ipvsadm_path)
        if errors:
            raise ValidationError(errors)


class RedundancySettings(SingletonModel):
    """Piranha's REDUNDANCY tab."""

    backup_active = models.BooleanField("redundancy enabled", default=False)
    backup = IPAddressField("backup server public IP", blank=True, null=True)
    backup_private = IPAddressField("backup server private IP", blank=True, null=True)
    heartbeat = models.BooleanField(default=True)
    heartbeat_port = models.PositiveIntegerField(default=539)
    keepalive = models.PositiveIntegerField("heartbeat interval (s)", default=6)
    deadtime = models.PositiveIntegerField("assume dead after (s)", default=18)
    monitor_links = models.BooleanField("monitor NIC links for failures", default=False)
    syncdaemon = models.BooleanField("use sync daemon", default=False)
    syncd_iface = models.CharField("sync daemon interface", max_length=15, blank=True)
    syncd_id = models.PositiveSmallIntegerField("sync daemon id", default=0)

    class Meta:
        verbose_name = "redundancy settings"
        verbose_name_plural = "redundancy settings"
        constraints = [
            models.CheckConstraint(condition=v.between("heartbeat_port", 1, rules.MAX_PORT), name="redundancy_heartbeat_port_range"),
            models.CheckConstraint(condition=v.between("syncd_id", 0, rules.MAX_SYNCD_ID), name="redundancy_syncd_id_range"),
            models.CheckConstraint(condition=v.between("keepalive", 1, rules.MAX_HEARTBEAT_SECONDS), name="redundancy_keepalive_range"),
            models.CheckConstraint(condition=v.between("deadtime", 1, rules.MAX_HEARTBEAT_SECONDS), name="redundancy_deadtime_range"),
        ]

    def __str__(self) -> str:
        return "Redundancy"

    def clean(self):
        errors = {}
        v.collect(errors, "heartbeat_port", v.port, self.heartbeat_port)
        v.collect(errors, "syncd_iface", v.device, self.syncd_iface)
        v.collect(errors, "syncd_id", v.syncd_id, self.syncd_id)
        v.collect(errors, "keepalive", v.heartbeat_seconds, self.keepalive)
        v.collect(errors, "deadtime", v.heartbeat_seconds, self.deadtime)
        if "deadtime" not in errors and self.keepalive is not None and self.deadtime is not None and self.deadtime <= self.keepalive:
            errors["deadtime"] = "Must be longer than the heartbeat interval."
        if self.backup_active and not self.backup:
            errors["backup"] = "Redundancy needs the backup server's IP."
        if errors:
            raise ValidationError(errors)


class RedundancyGroup(models.Model):
    """Directors that share VIPs by VRRP (keepalived) and carry the same IPVS table.

    A primary and a backup (or more: VRRP elects by priority); a lone director is a group
    of one and becomes MASTER. The VIPs come from the active virtual servers."""

    name = models.CharField(max_length=32, unique=True)
    virtual_router_id = models.PositiveSmallIntegerField(
        "virtual router id", unique=True, default=51,
        help_text="1 to 255, unique on the segment (VRRP routers with the same id must be one group)")
    interface = models.CharField("VRRP interface", max_length=15, default="eth0",
                                 help_text="Where adverts are sent; a VIP without a device is raised here too")
    advert_interval = models.DecimalField("advert interval (s)", max_digits=4, decimal_places=2, default=Decimal("1"),
                                          help_text="VRRP v3 allows 0.01 to 40.95; a backup takes over after about 3 of them")
    vrrp_version = models.PositiveSmallIntegerField("VRRP version", choices=[(2, "2"), (3, "3")], default=3)
    preempt = models.BooleanField(default=False, help_text="A returning director of higher priority takes the VIPs back. "
                                  "Off (nopreempt) by default: a return should not cut connections twice")
    preempt_delay = models.PositiveSmallIntegerField("preempt delay (s)", default=0,
                                                     help_text="Wait before taking the VIPs back, e.g. until the sync daemon caught up")
    unicast = models.BooleanField(default=False, help_text="Adverts to the other directors' VRRP addresses, for networks without multicast")
    track_interfaces = models.CharField("tracked interfaces", max_length=255, blank=True,
                                        help_text="Piranha's monitor_links: a link down here puts the director in FAULT")
    sync_daemon = models.BooleanField("connection sync daemon", default=True,
                                      help_text="Established connections survive a failover (ipvsadm --start-daemon, run by keepalived)")
    sync_interface = models.CharField("sync interface", max_length=15, blank=True, help_text="Blank: the VRRP interface")
    sync_id = models.PositiveSmallIntegerField("sync id", default=0, help_text="0 to 255, the same on every director of the group")
    garp_master_delay = models.PositiveSmallIntegerField("gratuitous ARP: second burst after (s)", default=5)
    garp_master_repeat = models.PositiveSmallIntegerField("gratuitous ARP: messages per burst", default=5)
    garp_master_refresh = models.PositiveSmallIntegerField(
        "gratuitous ARP: refresh every (s)", default=60,
        help_text="While MASTER, so a switch or router that missed the takeover forgets the old MAC within this time; 0 = never")
    rehearse_every_days = models.PositiveSmallIntegerField(
        "rehearse failover every (days)", default=0,
        help_text="Fail the group over on purpose on this schedule and record how long the takeover took; 0 = never")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(virtual_router_id__gte=1, virtual_router_id__lte=255), name="group_vrid_range"),
            models.CheckConstraint(condition=models.Q(sync_id__lte=255), name="group_sync_id_range"),
            models.CheckConstraint(condition=models.Q(preempt_delay__lte=1000), name="group_preempt_delay_range"),
            models.CheckConstraint(condition=models.Q(advert_interval__gte=Decimal("0.01"), advert_interval__lte=Decimal("40.95")),
                                   name="group_advert_range"),
            models.CheckConstraint(condition=models.Q(rehearse_every_days__lte=3650), name="group_rehearse_every_range"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors: dict[str, str] = {}
        v.collect(errors, "name", v.name, self.name)
        v.collect(errors, "interface", v.device, self.interface)
        v.collect(errors, "sync_interface", v.device, self.sync_interface)
        for name in self.track_interfaces.split():
            v.collect(errors, "track_interfaces", v.device, name)
        if self.virtual_router_id is not None and not 1 <= self.virtual_router_id <= 255:
            errors["virtual_router_id"] = "The virtual router id is 1 to 255."
        if self.sync_id is not None and self.sync_id > 255:
            errors["sync_id"] = "The sync id is 0 to 255."
        if self.preempt_delay is not None and self.preempt_delay > 1000:
            errors["preempt_delay"] = "keepalived takes 0 to 1000 seconds."
        if self.advert_interval is not None:
            if not Decimal("0.01") <= self.advert_interval <= Decimal("40.95"):
                errors["advert_interval"] = "VRRP takes 0.01 to 40.95 seconds."
            elif self.vrrp_version == 2 and self.advert_interval != self.advert_interval.to_integral_value():
                errors["advert_interval"] = "VRRP version 2 counts whole seconds; use version 3 for sub-second adverts."
        if (self.rehearse_every_days or 0) > 3650:
            errors["rehearse_every_days"] = "At most 3650 days (0 = never)."
        for field in ("garp_master_delay", "garp_master_repeat", "garp_master_refresh"):
            if (getattr(self, field) or 0) > 3600:
                errors[field] = "At most 3600."
        if errors:
            raise ValidationError(errors)

    @property
    def track_interface_list(self) -> tuple[str, ...]:
        return tuple(self.track_interfaces.split())


class Director(models.Model):
    """An LVS node whose kernel table lbadmin keeps equal to the configuration."""

    class Transport(models.TextChoices):
        LOCAL = "local", "Local (ipvsadm on this host)"
        SSH = "ssh", "SSH"

    class DriftPolicy(models.TextChoices):
        REPAIR = "repair", "Repair"
        REPORT = "report", "Report only"

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        OK = "ok", "In sync"
        DEGRADED = "degraded", "Degraded"
        UNREACHABLE = "unreachable", "Unreachable"

    name = models.CharField(max_length=64, unique=True)
    address = models.CharField(max_length=253, help_text="IP address or host name")
    transport = models.CharField(max_length=5, choices=Transport.choices, default=Transport.SSH)
    ssh_port = models.PositiveIntegerField(default=22)
    ssh_user = models.CharField(max_length=32, default="root")
    ssh_key_path = models.CharField(max_length=255, blank=True)
    host_key = models.TextField("pinned host key", blank=True, help_text='One line: "ssh-ed25519 AAAA..."')
    drift_policy = models.CharField(max_length=6, choices=DriftPolicy.choices, default=DriftPolicy.REPAIR)
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.UNKNOWN, editable=False)
    status_reason = models.TextField(blank=True, editable=False)
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Redundancy: keepalived on this director raises the group's VIPs.
    group = models.ForeignKey(RedundancyGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="members",
                              verbose_name="redundancy group",
                              help_text="Blank: lbadmin does not manage this director's VIPs (a lone director is a group of one)")
    priority = models.PositiveSmallIntegerField("VRRP priority", default=100,
                                                help_text="1 to 254; the highest live director holds the VIPs")
    vrrp_address = IPAddressField("VRRP address", null=True, blank=True,
                                  help_text="This director's own address on the VRRP interface (unicast adverts)")
    keepalived_conf = models.CharField("keepalived.conf path", max_length=255, default="/etc/keepalived/keepalived.conf")
    keepalived_pidfile = models.CharField("keepalived pid file", max_length=255, default="/run/keepalived.pid")
    state_dir = models.CharField("lbadmin state directory", max_length=255, default="/var/lib/lbadmin",
                                 help_text="On the director: the VRRP notify script and its log")
    vrrp_state = models.CharField(max_length=8, blank=True, editable=False)
    vrrp_state_since = models.DateTimeField(null=True, blank=True, editable=False)
    vrrp_applied = models.TextField("keepalived.conf last applied", blank=True, editable=False)
    # The IPVS table lbadmin last verified on this director (`ipvsadm -S -n` text): the
    # baseline that tells drift from first setup. In the database, since Redis keeps nothing
    # across a restart and "report only" must hold whatever Redis remembers.
    applied_table = models.TextField("IPVS table last applied", blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ssh_port__gte=1, ssh_port__lte=65535), name="director_ssh_port_range"),
            models.CheckConstraint(condition=models.Q(priority__gte=1, priority__lte=254), name="director_priority_range"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        v.collect(errors, "name", v.name, self.name)
        v.collect(errors, "address", v.host, self.address)
        if self.address and "address" not in errors:
            self.address = v.host(self.address)  # an IP address as shown everywhere: 2001:db8::1
        v.collect(errors, "ssh_port", v.port, self.ssh_port)
        if self.priority is not None and not 1 <= self.priority <= 254:
            errors["priority"] = "VRRP priorities are 1 to 254."
        for field in ("keepalived_conf", "keepalived_pidfile", "state_dir"):
            v.collect(errors, field, v.absolute_path, getattr(self, field))
        if self.transport == self.Transport.SSH:
            v.collect(errors, "ssh_user", v.unix_user, self.ssh_user)
            if not self.ssh_key_path:
                errors["ssh_key_path"] = "An SSH director needs a private key path."
            else:
                v.collect(errors, "ssh_key_path", v.absolute_path, self.ssh_key_path)
            if not self.host_key:
                errors["host_key"] = "Pin the director's host key (ssh-keyscan shows it; check its fingerprint)."
            else:
                v.collect(errors, "host_key", v.ssh_public_key, self.host_key)
        if errors:
            raise ValidationError(errors)

    def set_status(self, status: str, reason: str) -> None:
        """Record what the last contact showed; written only when it changed."""
        if self.status != status or self.status_reason != reason:
            Director.objects.filter(pk=self.pk).update(status=status, status_reason=reason, status_changed_at=timezone.now())
            self.status, self.status_reason = status, reason

    @property
    def host_key_fingerprint(self) -> str:
        try:
            return v.ssh_fingerprint(self.host_key) if self.host_key else ""
        except ValueError:
            return "(not a valid key)"


class VrrpTransition(models.Model):
    """A VRRP state change as keepalived's notify hook reported it on a director (read
    over the pinned SSH connection by the live poller): when, what, and why it is known."""

    director = models.ForeignKey(Director, on_delete=models.CASCADE, related_name="vrrp_transitions")
    at = models.DateTimeField(db_index=True, help_text="When keepalived ran the hook, by the director's clock")
    seen_at = models.DateTimeField(help_text="When lbadmin read it")
    kind = models.CharField(max_length=8)  # INSTANCE or GROUP
    name = models.CharField(max_length=64)
    state = models.CharField(max_length=8)  # MASTER, BACKUP, FAULT, STOP, DELETED
    priority = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [models.UniqueConstraint(fields=["director", "at", "kind", "name", "state"], name="vrrp_transition_once")]

    def __str__(self) -> str:
        return f"{self.director} {self.name} {self.state} at {self.at:%H:%M:%S.%f}"


class AuditChainHead(models.Model):
    """The newest entry's hash and the number of entries: a removed tail of the log breaks
    the chain against this row. Written in the same transaction as each entry, first, so
    concurrent writers queue on it (SQLite's write lock, PostgreSQL's row lock)."""

    last_hash = models.CharField(max_length=64, blank=True)
    entries = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit chain head after {self.entries} entries"


class FailoverRehearsal(models.Model):
    """A failover of a redundancy group on purpose: keepalived stopped gracefully on the
    MASTER, the takeover measured, keepalived started again (virtualservers.
    failover_rehearsal). Times called "director clock" come from the directors' notify
    logs; comparing two directors' stamps assumes their clocks agree (NTP)."""

    class Result(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"

    IN_FLIGHT = (Result.PENDING, Result.RUNNING)

    group = models.ForeignKey(RedundancyGroup, on_delete=models.CASCADE, related_name="rehearsals")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_by_name = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=7, choices=Result.choices, default=Result.PENDING)
    stage = models.CharField(max_length=80, blank=True)
    error = models.TextField(blank=True)
    from_director = models.CharField(max_length=64, blank=True)
    to_director = models.CharField(max_length=64, blank=True)
    released_at = models.DateTimeField(
        null=True, blank=True,
        help_text="The old MASTER's last notify (STOP) after SIGTERM, director clock; the SIGTERM if it logged none")
    master_at = models.DateTimeField(
        null=True, blank=True,
        help_text="The new MASTER's MASTER notify, director clock. keepalived sends its first gratuitous ARP burst "
                  "on becoming MASTER, so this is the first GARP's time to within the notify latency")
    takeover_seconds = models.FloatField(null=True, blank=True, help_text="master_at - released_at")
    connections_before = models.PositiveIntegerField(
        null=True, blank=True, help_text="Connections the new MASTER's kernel knew before the failover (sync brought them)")
    connections_after = models.PositiveIntegerField(null=True, blank=True,
                                                    help_text="The same, read once it had become MASTER")
    probe_outage_seconds = models.FloatField(
        null=True, blank=True, help_text="Longest time a TCP connect from lbadmin through the VIP did not succeed")
    probe_summary = models.CharField(max_length=255, blank=True)
    old_master_return = models.CharField(max_length=255, blank=True,
                                         help_text="How the old MASTER came back once keepalived ran again")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One rehearsal in flight per group, enforced by the database: a second request
            # (a double click, the schedule at the same moment) fails to insert.
            models.UniqueConstraint(fields=["group"], condition=models.Q(result__in=["pending", "running"]),
                                    name="one_rehearsal_in_flight_per_group"),
        ]

    def __str__(self) -> str:
        return f"rehearsal of {self.group} at {self.requested_at:%Y-%m-%d %H:%M:%S}"

    @property
    def in_flight(self) -> bool:
        return self.result in self.IN_FLIGHT


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditEntry(models.Model):
    """One change, login or logout. Append-only: the model, its queryset and
    database triggers (see the migration) all refuse UPDATE and DELETE."""

    # Set in save() before the hash is computed (auto_now_add would set it only at the insert).
    time = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    username = models.CharField(max_length=150, blank=True, db_index=True)
    # A plain Django field on purpose: on SQLite, altering a column rebuilds the
    # table and drops the append-only triggers (tests/test_audit.py notices).
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    action = models.CharField(max_length=32, db_index=True)
    object_type = models.CharField(max_length=64, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)
    # The hash chain (lbadmin/audit_chain.py): the previous entry's hash, and this one's.
    prev_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)
    entry_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit log is append-only.")
        with transaction.atomic():
            # The head first: the write makes concurrent writers wait here, so each entry
            # links to the one really written before it.
            if not AuditChainHead.objects.filter(pk=1).update(entries=models.F("entries") + 1):
                AuditChainHead.objects.create(pk=1, entries=1)
            head = AuditChainHead.objects.get(pk=1)
            self.time = timezone.now()
            self.prev_hash = head.last_hash
            self.entry_hash = audit_chain.entry_hash(self.prev_hash, self.chained_fields())
            super().save(*args, **kwargs)
            AuditChainHead.objects.filter(pk=1).update(last_hash=self.entry_hash)

    def chained_fields(self) -> dict:
        return {name: getattr(self, name) for name in audit_chain.CHAINED_FIELDS}

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def changes(self) -> list[tuple[str, object, object]]:
        """Field-by-field difference: (field, before, after) for every field that differs,
        by field name: PostgreSQL's jsonb keeps no key order, so none is relied upon."""
        before = self.before or {}
        after = self.after or {}
        keys = sorted({*before.keys(), *after.keys()})
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]

    def differences(self) -> list[textdiff.Difference]:
        """changes(), with a value of several lines (an IPVS table) as removed and added lines.
        A drift entry recorded before the two tables shared one key ("kernel" before,
        "desired" after) is shown as one difference as well."""
        changes = self.changes()
        names = [name for name, _, _ in changes]
        if self.action == "drift" and names == ["desired", "kernel"]:
            changes = [("table", (self.before or {}).get("kernel"), (self.after or {}).get("desired"))]
        return textdiff.differences(changes)


class ApiToken(models.Model):
    """A named bearer token of one user, for programs (Prometheus, scripts): the user's role
    applies to it as to the user's pages. Only a SHA-256 of the token is kept, so the token
    is shown once, when made (lbadmin.api_tokens); `prefix` names it in lists and in the
    audit log and finds its row. Revoked, never deleted, so the log keeps naming it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], condition=models.Q(revoked_at__isnull=True),
                                    name="api_token_name_unique_while_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
