"""keepalived.conf for one director, holding only VRRP: the VIPs float, IPVS stays lbadmin's.

lbadmin never raises a VIP itself (no `ip addr`, no ARP code): keepalived's VRRP does, on
every director, a lone one too (a group of one becomes MASTER after its first advert
timeout). The file holds global_defs (router id, VRRP version, gratuitous ARP timing, the
IPVS connection-sync daemon bound to the VRRP state), one vrrp_instance per address
family that has VIPs (keepalived refuses an instance without one, and an instance is one
family), and a vrrp_sync_group around them when there are two, so the families move
together. No virtual_server block: the kernel table is reconciled by lbadmin.

Pure: no Django. Every value is checked before it is written, so nothing typed on a page
can add a directive (a quote, a brace or a newline in a value is refused).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

# What keepalived's own parser would take as one word: no blanks, quotes, braces, '#'/'!'.
_WORD = re.compile(r"[A-Za-z0-9_.:/@%+=-]+")


@dataclass(frozen=True)
class Vip:
    """One address keepalived raises on the MASTER: `address/prefix dev DEVICE [label LABEL]`."""
    address: str
    prefix: int
    device: str
    label: str = ""

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.address).version


@dataclass(frozen=True)
class Member:
    """A director as the group sees it: its name, VRRP priority and (for unicast) address."""
    name: str
    priority: int
    address: str = ""


@dataclass(frozen=True)
class GroupSettings:
    """One redundancy group's VRRP settings (lbadmin.models.RedundancyGroup)."""
    name: str
    virtual_router_id: int
    interface: str
    advert_interval: float = 1.0
    version: int = 3
    preempt: bool = True
    preempt_delay: int = 0
    unicast: bool = False
    track_interfaces: tuple[str, ...] = ()
    sync_daemon: bool = False
    sync_interface: str = ""
    sync_id: int = 0
    garp_master_delay: int = 5
    garp_master_repeat: int = 5
    garp_master_refresh: int = 0
    notify: str = ""  # the path of the notify script on the director


@dataclass(frozen=True)
class VrrpConfig:
    """Everything one director's file is made from."""
    group: GroupSettings
    member: Member
    peers: tuple[Member, ...] = ()
    vips: tuple[Vip, ...] = field(default_factory=tuple)

    def instance_name(self, family: int) -> str:
        return f"lbadmin_{self.group.name}_v{family}"

    def families(self) -> list[int]:
        return sorted({vip.family for vip in self.vips})


def _word(value: object, what: str) -> str:
    text = str(value)
    if not _WORD.fullmatch(text):
        raise ValueError(f"{what} {text!r} cannot be written into keepalived.conf")
    return text


def _seconds(value: float) -> str:
    """keepalived's TIMER: seconds, with a decimal part when there is one (0.1, 1)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def vip_line(vip: Vip) -> str:
    network = ipaddress.ip_interface(f"{vip.address}/{vip.prefix}")  # refuses a bad prefix
    line = f"{network.ip}/{vip.prefix} dev {_word(vip.device, 'device')}"
    return line + (f" label {_word(vip.label, 'label')}" if vip.label else "")


def render_vrrp(config: VrrpConfig) -> str:
    """The file, deterministic (same input, same bytes), so a diff shows real changes only."""
    group, member = config.group, config.member
    families = config.families()
    lines = ["# Written by lbadmin: VRRP only (IPVS is lbadmin's). Changes here are replaced.",
             "global_defs {",
             f"    router_id {_word(member.name, 'director name')}",
             f"    vrrp_version {int(group.version)}",
             f"    vrrp_garp_master_delay {int(group.garp_master_delay)}",
             f"    vrrp_garp_master_repeat {int(group.garp_master_repeat)}",
             f"    vrrp_garp_master_refresh {int(group.garp_master_refresh)}"]
    if group.notify:
        lines += ["    script_user root", "    enable_script_security"]
    if group.sync_daemon and families:
        # Bound to the first instance: keepalived runs the master daemon while that instance is
        # MASTER and the backup daemon otherwise, so the sync follows every failover.
        lines.append(f"    lvs_sync_daemon {_word(group.sync_interface or group.interface, 'sync interface')} "
                     f"inst {config.instance_name(families[0])} id {int(group.sync_id)}")
    lines.append("}")
    notify = f'    notify "{_word(group.notify, "notify script")}"' if group.notify else None
    if len(families) > 1:
        lines += [f"vrrp_sync_group lbadmin_{_word(group.name, 'group name')} {{", "    group {"]
        lines += [f"        {config.instance_name(f)}" for f in families]
        lines.append("    }")
        if notify:
            lines.append(notify)
        lines.append("}")
    for family in families:
        lines += _instance(config, family, notify if len(families) == 1 else None)
    return "\n".join(lines) + "\n"


def _instance(config: VrrpConfig, family: int, notify: str | None) -> list[str]:
    group, member = config.group, config.member
    if not 1 <= group.virtual_router_id <= 255:
        raise ValueError(f"virtual_router_id {group.virtual_router_id} is not 1 to 255")
    if not 1 <= member.priority <= 254:
        raise ValueError(f"priority {member.priority} is not 1 to 254")
    lines = [f"vrrp_instance {config.instance_name(family)} {{",
             # BACKUP everywhere: the priorities elect the MASTER, and nopreempt and
             # preempt_delay only work from BACKUP.
             "    state BACKUP",
             f"    interface {_word(group.interface, 'interface')}",
             f"    virtual_router_id {int(group.virtual_router_id)}",
             f"    priority {int(member.priority)}",
             f"    advert_int {_seconds(group.advert_interval)}"]
    if not group.preempt:
        lines.append("    nopreempt")
    elif group.preempt_delay:
        lines.append(f"    preempt_delay {int(group.preempt_delay)}")
    peers = [p for p in config.peers if p.address and ipaddress.ip_address(p.address).version == family]
    if group.unicast and member.address and ipaddress.ip_address(member.address).version == family:
        lines.append(f"    unicast_src_ip {ipaddress.ip_address(member.address)}")
        lines.append("    unicast_peer {")
        lines += [f"        {ipaddress.ip_address(p.address)}" for p in peers]
        lines.append("    }")
    if group.track_interfaces:
        lines.append("    track_interface {")
        lines += [f"        {_word(name, 'tracked interface')}" for name in group.track_interfaces]
        lines.append("    }")
    lines.append("    virtual_ipaddress {")
    lines += [f"        {vip_line(vip)}" for vip in sorted(
        (v for v in config.vips if v.family == family),
        key=lambda v: (ipaddress.ip_address(v.address), v.prefix, v.device, v.label))]
    lines.append("    }")
    if notify:
        lines.append(notify)
    lines.append("}")
    return lines


def prefix_of(netmask: str, family: int) -> int:
    """A VIP's prefix from the virtual server's netmask field: dotted for IPv4
    (255.255.255.255 -> 32), a length for IPv6; blank is a host address (/32, /128)."""
    if not netmask:
        return 32 if family == 4 else 128
    if family == 4:
        return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
    return int(netmask)


def split_device(device: str, default: str) -> tuple[str, str]:
    """`eth0:1` -> ("eth0", "eth0:1"): the interface and the alias label, as ifconfig
    named it and Piranha wrote it; blank -> the group's VRRP interface, no label."""
    if not device:
        return default, ""
    base = device.split(":", 1)[0]
    return base, device if ":" in device else ""


# --- what the director says back (ipvs.scripts.VRRP_STATUS) ---------------------------


@dataclass(frozen=True)
class NotifyLine:
    """One line of the notify hook's log: `TIME TYPE NAME STATE PRIORITY`."""
    at: float
    kind: str
    name: str
    state: str
    priority: int | None


@dataclass(frozen=True)
class VrrpStatus:
    keepalived_running: bool
    transitions: tuple[NotifyLine, ...]
    daemons: tuple[str, ...]  # "master" and/or "backup", as ipvsadm -L --daemon lists them
    connections: int

    def state(self, instance_prefix: str = "lbadmin_") -> str:
        """The latest state of lbadmin's instances (or their sync group); "" when unknown.
        A stopped keepalived holds nothing, whatever it last logged."""
        if not self.keepalived_running:
            return "STOPPED"
        for line in reversed(self.transitions):
            if line.name.startswith(instance_prefix):
                return line.state
        return ""


_STATES = {"MASTER", "BACKUP", "FAULT", "STOP", "DELETED"}


def parse_notify_line(line: str) -> NotifyLine | None:
    parts = line.split()
    if len(parts) < 4 or parts[1] not in ("INSTANCE", "GROUP") or parts[3] not in _STATES:
        return None
    try:
        at = float(parts[0])
    except ValueError:
        return None
    priority = int(parts[4]) if len(parts) > 4 and parts[4].isdigit() else None
    return NotifyLine(at, parts[1], parts[2], parts[3], priority)


def parse_vrrp_status(text: str) -> VrrpStatus:
    """VRRP_STATUS's sections; lines it does not understand are skipped, not fatal (a
    hand-edited log must not stop the live view)."""
    section, running, transitions, daemons, connections = "head", False, [], [], 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("--- "):
            section = line[4:]
            continue
        if section == "head" and line.startswith("keepalived "):
            running = line.split()[1] == "running"
        elif section == "transitions":
            parsed = parse_notify_line(line)
            if parsed:
                transitions.append(parsed)
        elif section == "daemons":
            for kind in ("master", "backup"):
                if line.startswith(kind + " sync daemon"):
                    daemons.append(kind)
        elif section == "connections" and line.isdigit():
            connections = int(line)
    return VrrpStatus(running, tuple(transitions), tuple(daemons), connections)
