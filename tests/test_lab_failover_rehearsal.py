"""A failover rehearsal on the lab's real director pair: keepalived stopped gracefully on
the MASTER, the VIP moves, the takeover is measured from the directors' notify stamps,
keepalived comes back on the old MASTER as BACKUP (nopreempt), and the lab's own client
measures the outage through the VIP while lbadmin's host, which cannot reach the pair's
VIPs, records why it ran no probe."""
from __future__ import annotations

import pytest

from lab import topology
from lab.probe import outages
from lbadmin.models import AuditEntry
from tests.lab_fixtures import lab_pair, lab_vm  # noqa: F401  (fixtures)
from tests.test_lab_vrrp import VIP, make_group, reconcile_all, register, wait_for_state, web_service
from virtualservers.failover_rehearsal import connects, request_rehearsal, run_rehearsal

pytestmark = pytest.mark.lab


@pytest.mark.django_db(transaction=True)
def test_a_rehearsal_moves_the_vip_measures_the_takeover_and_brings_the_old_master_back(lab_pair, admin_user):
    group = make_group(name="rehearsal", virtual_router_id=53)
    primary, backup = register(lab_pair, group, "dirA", "dirB")
    web_service()
    # One after the other: with nopreempt, two keepalived started together elect whichever
    # times out first, not the higher priority.
    reconcile_all([primary])
    lab_pair.wait_for_vip_holders(VIP, timeout=15)
    wait_for_state(primary, "MASTER")
    reconcile_all([backup])
    wait_for_state(backup, "BACKUP")
    assert lab_pair.vip_holders(VIP) == ["dirA"]

    # The pair's VIPs live inside the guest: nothing routes them to this host. A host whose
    # egress accepts every TCP connect (a transparent proxy, as in some sandboxes) would
    # fool any connect probe; then the row must show the probe's figures, not "no probe".
    host_sees_vip = connects(VIP, topology.HTTP_PORT) or connects("198.51.100.1", topology.HTTP_PORT)
    probe = lab_pair.start_probe("http", VIP, topology.HTTP_PORT, interval_ms=50, duration_s=8)
    lab_pair.wait_for_probe_lines(probe, 10)
    rehearsal = run_rehearsal(request_rehearsal(group, user=admin_user).pk)

    assert rehearsal.result == "ok", rehearsal.error
    assert (rehearsal.from_director, rehearsal.to_director) == ("dirA", "dirB")
    assert lab_pair.vip_holders(VIP) == ["dirB"]
    assert 0 < rehearsal.takeover_seconds < 3
    assert rehearsal.released_at <= rehearsal.master_at
    assert rehearsal.connections_before is not None and rehearsal.connections_after is not None
    if host_sees_vip:
        print(f"this host's egress accepts every TCP connect, so lbadmin's probe ran: {rehearsal.probe_summary}")
        assert rehearsal.probe_outage_seconds is not None and "connects every 50 ms" in rehearsal.probe_summary
    else:
        assert rehearsal.probe_outage_seconds is None
        assert rehearsal.probe_summary == f"no probe: {VIP}:{topology.HTTP_PORT} does not answer from the lbadmin host"
    assert rehearsal.old_master_return == "dirA returned as BACKUP (nopreempt): the VIPs stay where they are"
    assert "keepalived running" in lab_pair.check_on_director(
        "dirA", ["sh", "-c", 'kill -0 "$(cat /run/keepalived.pid)" && echo keepalived running'])
    wait_for_state(primary, "BACKUP")
    entry = AuditEntry.objects.get(action="rehearsal", object_repr="rehearsal")
    assert entry.username == admin_user.username and "dirA -> dirB" in entry.message

    lines = lab_pair.probe_results(probe)
    gaps = outages(lines)
    print(f"rehearsal: takeover {rehearsal.takeover_seconds:.3f} s by the notify stamps "
          f"({rehearsal.released_at:%H:%M:%S.%f} -> {rehearsal.master_at:%H:%M:%S.%f}); connections on dirB "
          f"{rehearsal.connections_before} before, {rehearsal.connections_after} after; client outage through "
          f"the VIP {[round(g.seconds, 3) for g in gaps]} s ({sum(g.failures for g in gaps)} failed of {len(lines)}); "
          f"{rehearsal.old_master_return}")
    assert lines[0].ok and lines[-1].ok, lines[:3] + lines[-3:]
    assert len(gaps) <= 1 and all(g.seconds < 3 for g in gaps)
    assert lab_pair.vip_holders(VIP) == ["dirB"]
