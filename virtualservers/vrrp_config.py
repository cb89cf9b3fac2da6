"""Each director's keepalived.conf (VRRP only): built from its redundancy group and the
active virtual servers, installed over the director's executor, and kept there.

reconcile_director calls converge_keepalived after the IPVS table, so one change reaches
the kernel table and the VIPs of every director of the group. The file goes through
`keepalived -t` on the director before it replaces the running one (scripts.
INSTALL_KEEPALIVED: write beside, check, fsync, rename, SIGHUP), and every change of the
file is audited with the lines before and after.
"""
from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import transaction

from lbadmin import audit
from lbadmin.models import ClusterSettings, Director, Network

from . import ipvs
from .formats.vrrp import GroupSettings, Member, Vip, VrrpConfig, prefix_of, render_vrrp, split_device
from .ipvs.scripts import INSTALL_FILE, INSTALL_KEEPALIVED, NOTIFY_HOOK, READ_FILE
from .models import VirtualServer

KEEPALIVED = "keepalived"  # found on the director's PATH, as ipvsadm is


def notify_path(director: Director) -> str:
    return f"{director.state_dir.rstrip('/')}/vrrp-notify"


def group_members(director: Director) -> list[Director]:
    if director.group_id is None:
        return [director]
    return list(Director.objects.filter(group_id=director.group_id, enabled=True).order_by("name"))


def served_by_group(vs: VirtualServer, director: Director) -> bool:
    """A virtual server limited to some directors is served by their whole groups: the
    backup must carry what the primary carries, or a failover would lose the service."""
    return served_by_chosen(vs.directors.all(), director)


def chosen_directors() -> dict[int, list[SimpleNamespace]]:
    """Virtual server id -> the directors it is limited to (pk, group_id), for every virtual
    server at once: one query of rows, where `vs.directors.all()` per virtual server costs
    a queryset each (about 0.1 s for 1,000)."""
    chosen: dict[int, list[SimpleNamespace]] = {}
    limits = VirtualServer.directors.through.objects.values_list("virtualserver_id", "director_id", "director__group_id")
    for vs_id, director_id, group_id in limits:
        chosen.setdefault(vs_id, []).append(SimpleNamespace(pk=director_id, group_id=group_id))
    return chosen


def served_by_chosen(chosen: Iterable, director: Director) -> bool:
    """served_by_group from the directors a virtual server is limited to (anything with
    pk and group_id; none: every director)."""
    chosen = list(chosen)
    if not chosen:
        return True
    return any(d.pk == director.pk or (director.group_id and d.group_id == director.group_id) for d in chosen)


def not_served_by(director: Director) -> set[int]:
    """The ids of the virtual servers `director` does not carry (served_by_group's rule for
    all of them in one query, without loading them): those limited to other groups."""
    return {vs_id for vs_id, directors in chosen_directors().items() if not served_by_chosen(directors, director)}


def vips_for(director: Director, interface: str) -> list[Vip]:
    """The VIPs of the active virtual servers this director's group serves, and in NAT the
    real servers' gateway (Piranha's nat_router), which must follow the VIPs."""
    found: dict[tuple[str, int], Vip] = {}
    nat_in_use = False
    cluster = ClusterSettings.load()
    chosen = chosen_directors()
    fields = ("pk", "name", "address", "vip_nmask", "device", "forwarding")
    for vs in VirtualServer.objects.filter(active=True).only(*fields).order_by("name"):
        if not served_by_chosen(chosen.get(vs.pk, ()), director):
            continue
        family = ipaddress.ip_address(vs.address).version
        device, label = split_device(vs.device, interface)
        vip = Vip(vs.address, prefix_of(vs.vip_nmask, family), device, label)
        found.setdefault((vip.address, vip.family), vip)
        nat_in_use = nat_in_use or vs.effective_forwarding(cluster) == Network.NAT
    if nat_in_use and cluster.nat_router_ip:
        family = ipaddress.ip_address(cluster.nat_router_ip).version
        device, label = split_device(cluster.nat_router_device, interface)
        vip = Vip(cluster.nat_router_ip, prefix_of(cluster.nat_nmask, family), device, label)
        found.setdefault((vip.address, vip.family), vip)
    return list(found.values())


def vrrp_config_for(director: Director) -> VrrpConfig | None:
    """None when lbadmin does not manage the director's VIPs (no redundancy group)."""
    group = director.group
    if group is None:
        return None
    settings = GroupSettings(
        name=group.name, virtual_router_id=group.virtual_router_id, interface=group.interface,
        advert_interval=float(group.advert_interval), version=group.vrrp_version, preempt=group.preempt,
        preempt_delay=group.preempt_delay, unicast=group.unicast, track_interfaces=group.track_interface_list,
        sync_daemon=group.sync_daemon, sync_interface=group.sync_interface, sync_id=group.sync_id,
        garp_master_delay=group.garp_master_delay, garp_master_repeat=group.garp_master_repeat,
        garp_master_refresh=group.garp_master_refresh, notify=notify_path(director))
    members = group_members(director)
    peers = tuple(Member(d.name, d.priority, d.vrrp_address or "") for d in members if d.pk != director.pk)
    me = Member(director.name, director.priority, director.vrrp_address or "")
    return VrrpConfig(settings, me, peers, tuple(vips_for(director, group.interface)))


def desired_keepalived(director: Director) -> str | None:
    config = vrrp_config_for(director)
    return render_vrrp(config) if config else None


def diff_lines(before: str, after: str, director: Director) -> list[str]:
    return list(difflib.unified_diff(before.splitlines(), after.splitlines(), f"{director.name}: running",
                                     f"{director.name}: wanted", lineterm="", n=1))


@dataclass
class KeepalivedOutcome:
    changed: bool
    diff: list[str]
    output: str = ""


def converge_keepalived(director: Director, executor: ipvs.Executor, *, verify_remote: bool) -> KeepalivedOutcome | None:
    """Make the director's keepalived.conf the wanted one. Reads the remote file only when
    asked (the sweep: someone may have edited it) or when the wanted text changed since
    the last install, so a health-driven reconcile costs no extra round trip."""
    wanted = desired_keepalived(director)
    if wanted is None:
        return None
    if not verify_remote and wanted == director.vrrp_applied:
        return KeepalivedOutcome(False, [])
    running = executor.run_script(READ_FILE, [director.keepalived_conf]).stdout
    hook = executor.run_script(READ_FILE, [notify_path(director)]).stdout
    if hook != NOTIFY_HOOK:  # missing (a new director, a wiped disk) or edited
        executor.run_script(INSTALL_FILE, [notify_path(director), "0755"], stdin=NOTIFY_HOOK)
    if running == wanted and wanted == director.vrrp_applied:
        return KeepalivedOutcome(False, [])
    diff = diff_lines(running, wanted, director)
    result = executor.run_script(INSTALL_KEEPALIVED, [director.keepalived_conf, director.keepalived_pidfile, KEEPALIVED],
                                 stdin=wanted)
    with transaction.atomic():
        Director.objects.filter(pk=director.pk).update(vrrp_applied=wanted)
        if running != wanted:
            audit.record("keepalived", director, actor="reconciler", object_type="Director",
                         before={"keepalived.conf": running.splitlines()}, after={"keepalived.conf": wanted.splitlines()},
                         message=f"keepalived.conf installed on {director.name} ({result.stdout.strip()})")
    director.vrrp_applied = wanted
    return KeepalivedOutcome(running != wanted, diff, result.stdout.strip())

