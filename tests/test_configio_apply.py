"""configio.write_config: one transaction, the database's rules, add or replace, one audit entry."""
import pytest

from lbadmin.models import AuditEntry, ClusterSettings, RedundancySettings
from tests import factories
from virtualservers import configio
from virtualservers.formats.config import (
    ClusterConfig,
    Config,
    HealthCheckConfig,
    RealServerConfig,
    VirtualServerConfig,
)
from virtualservers.models import HealthCheck, RealServer, ReconcileRequest, VirtualServer

pytestmark = pytest.mark.django_db


def vs(name, address="192.0.2.80", port=80, real=(), **fields):
    servers = [RealServerConfig(name=n, address=a) for n, a in real]
    return VirtualServerConfig(name=name, address=address, port=port, real_servers=servers, **fields)


def state():
    return (list(VirtualServer.objects.values()), list(RealServer.objects.values()), list(HealthCheck.objects.values()),
            list(ClusterSettings.objects.values()), list(RedundancySettings.objects.values()), AuditEntry.objects.count())


def test_it_reads_an_empty_database_as_the_default_configuration():
    assert configio.read_config() == Config()


def test_it_adds_virtual_servers_with_their_real_servers_and_check():
    config = Config(virtual_servers=[vs("web", real=[("web1", "192.0.2.11")], health_check=HealthCheckConfig(check_type="http"))])
    plan = configio.write_config(config, include_settings=False)
    assert [str(c) for c in plan.changes] == ["+ virtual server web: active tcp 192.0.2.80:80 wlc, http check, real servers: web1 192.0.2.11"]
    stored = VirtualServer.objects.get(name="web")
    assert stored.health_check.check_type == "http"
    assert stored.real_servers.get().admin_state == "enabled"
    assert configio.read_config().virtual_servers == config.virtual_servers


def test_it_refuses_to_overwrite_an_existing_virtual_server_without_replace():
    factories.virtual_server(name="web", address="192.0.2.80", port=80)
    before = state()
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.write_config(Config(virtual_servers=[vs("web", port=8080), vs("new", port=81)]), include_settings=False)
    assert refused.value.problems == ["virtual server 'web' exists; replace to overwrite it"]
    assert state() == before


def test_it_refuses_to_overwrite_configured_global_settings_without_replace():
    cluster = ClusterSettings.load()
    cluster.network = "direct"
    cluster.save()
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.write_config(Config(cluster=ClusterConfig(network="tunnel")))
    assert "global settings differ from the database (network direct → tunnel)" in refused.value.problems[0]


def test_it_takes_global_settings_over_the_defaults_without_replace():
    configio.write_config(Config(cluster=ClusterConfig(network="direct", serial_no=12, primary="192.0.2.5")))
    cluster = ClusterSettings.load()
    assert (cluster.network, cluster.serial_no, cluster.primary) == ("direct", 12, "192.0.2.5")


def test_replace_updates_in_place_keeps_ids_and_directors_and_deletes_the_rest():
    director = factories.director()
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80)
    web.directors.add(director)
    keep = factories.real_server(web, name="web1", address="192.0.2.11")
    factories.virtual_server(name="old", address="192.0.2.90", port=80)
    config = Config(virtual_servers=[vs("web", port=8080, directors=["lab"],
                                        real=[("web1", "192.0.2.11"), ("web2", "192.0.2.12")])])
    plan = configio.write_config(config, replace=True, include_settings=False)
    assert {(c.action, c.name) for c in plan.changes} == {("change", "web"), ("remove", "old")}
    web.refresh_from_db()
    assert web.port == 8080 and list(web.directors.all()) == [director]
    assert web.real_servers.get(name="web1").pk == keep.pk
    assert not VirtualServer.objects.filter(name="old").exists()


def test_replace_can_swap_the_endpoints_of_two_virtual_servers():
    factories.virtual_server(name="a", address="192.0.2.80", port=80)
    factories.virtual_server(name="b", address="192.0.2.80", port=81)
    configio.write_config(Config(virtual_servers=[vs("a", port=81), vs("b", port=80)]), replace=True, include_settings=False)
    assert dict(VirtualServer.objects.values_list("name", "port")) == {"a": 81, "b": 80}


def test_replace_can_swap_the_addresses_of_two_real_servers():
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80)
    factories.real_server(web, name="r1", address="192.0.2.11")
    factories.real_server(web, name="r2", address="192.0.2.12")
    config = Config(virtual_servers=[vs("web", real=[("r1", "192.0.2.12"), ("r2", "192.0.2.11")])])
    configio.write_config(config, replace=True, include_settings=False)
    assert dict(RealServer.objects.values_list("name", "address")) == {"r1": "192.0.2.12", "r2": "192.0.2.11"}


def test_replace_can_move_a_virtual_server_to_ipv6_with_its_real_servers():
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80, vip_nmask="", pmask="")
    factories.real_server(web, name="r1", address="192.0.2.11")
    config = Config(virtual_servers=[vs("web", address="2001:db8::80", real=[("r1", "2001:db8::11")])])
    configio.write_config(config, replace=True, include_settings=False)
    assert RealServer.objects.get().address == "2001:db8::11"


def test_the_database_rules_apply_and_nothing_is_written_when_one_object_is_refused():
    # The format allows a persistence mask without persistence; the model does not.
    bad = vs("bad", port=81, pmask="255.255.255.0", persistent=0)
    before = state()
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.write_config(Config(virtual_servers=[vs("good"), bad]), include_settings=False)
    assert refused.value.problems == ["virtual server bad: pmask: A persistence netmask needs a persistence timeout."]
    assert state() == before


def test_a_check_method_the_model_does_not_know_is_refused():
    config = Config(virtual_servers=[vs("web", health_check=HealthCheckConfig(check_type="http", http_method="PATCH"))])
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.write_config(config, include_settings=False)
    assert refused.value.problems[0].startswith("virtual server web, health check: http_method:")
    assert not VirtualServer.objects.exists()


def test_a_dry_run_reports_the_changes_and_changes_nothing(django_capture_on_commit_callbacks):
    before = state()
    with django_capture_on_commit_callbacks() as callbacks:
        plan = configio.write_config(Config(virtual_servers=[vs("web")]), include_settings=False, dry_run=True)
    assert plan.dry_run and plan.summary_line() == "1 added, 0 changed, 0 removed"
    assert state() == before and callbacks == []


def test_an_apply_is_one_audit_entry_and_queues_a_reconcile_on_commit(django_capture_on_commit_callbacks):
    director = factories.director()
    with django_capture_on_commit_callbacks() as callbacks:
        configio.write_config(Config(virtual_servers=[vs("a"), vs("b", port=81)]), include_settings=False,
                              action="import", source="site.cf", actor="tester")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.username) == ("import", "Configuration", "tester")
    assert "site.cf" in entry.message and "2 added" in entry.message
    assert entry.before == {}
    assert {key.split(".")[0] for key in entry.after} == {"vs a", "vs b"}
    assert entry.after["vs b.port"] == 81 and entry.after["vs a.check.check_type"] == "tcp"
    # The reconcile request is in the outbox, committed with the change; sent on commit.
    assert list(ReconcileRequest.objects.values_list("director_id", "trigger")) == [(director.pk, "configuration import")]
    assert len(callbacks) == 1


def test_an_apply_that_changes_nothing_writes_no_audit_entry_and_queues_nothing(django_capture_on_commit_callbacks):
    config = Config(virtual_servers=[vs("a", real=[("r", "192.0.2.1")])])
    configio.write_config(config, include_settings=False)
    count = AuditEntry.objects.count()
    with django_capture_on_commit_callbacks() as callbacks:
        plan = configio.write_config(config, replace=True, include_settings=False)
    assert plan.changes == [] and AuditEntry.objects.count() == count and callbacks == []


def test_keepalived_forwarding_is_pinned_when_our_network_type_differs():
    cluster = ClusterSettings.load()
    cluster.network = "direct"
    cluster.save()
    config = configio.pin_forwarding(Config(virtual_servers=[vs("nat-one"), vs("dr", port=81, forwarding="direct")]))
    assert [s.forwarding for s in config.virtual_servers] == ["nat", "direct"]


def test_a_draining_real_server_gets_a_drain_start():
    config = Config(virtual_servers=[vs("web", real=[("r", "192.0.2.1")])])
    config.virtual_servers[0].real_servers[0].admin_state = "draining"
    configio.write_config(config, include_settings=False)
    assert RealServer.objects.get().drain_started_at is not None


# --- check target, slow start and directors ------------------------------------------------


def links():
    return sorted(VirtualServer.directors.through.objects.values_list("virtualserver__name", "director__name"))


def test_it_stores_and_reads_back_check_targets_slow_start_and_directors():
    factories.director("edge-1")
    factories.director("edge-2")
    web = vs("web", real=[("web1", "192.0.2.11"), ("web2", "192.0.2.12")], directors=["edge-1", "edge-2"],
             health_check=HealthCheckConfig(slow_start=90))
    web.real_servers[0].check_address, web.real_servers[0].check_port = "2001:db8::11", 8081
    configio.write_config(Config(virtual_servers=[web]), include_settings=False)
    stored = VirtualServer.objects.get(name="web")
    assert sorted(d.name for d in stored.directors.all()) == ["edge-1", "edge-2"]
    assert stored.health_check.slow_start == 90
    web1, web2 = stored.real_servers.order_by("name")
    assert (web1.check_address, web1.check_port, web1.check_target) == ("2001:db8::11", 8081, ("2001:db8::11", 8081))
    assert (web2.check_address, web2.check_port) == (None, None)  # blank is stored as NULL
    assert configio.read_config().virtual_servers == [web]


def test_it_refuses_director_names_this_database_does_not_have_and_writes_nothing():
    factories.director("edge-1")
    factories.virtual_server(name="old", address="192.0.2.90", port=80)
    before = (state(), links())
    config = Config(virtual_servers=[
        vs("web", directors=["edge-1", "edge-9"]),
        vs("api", port=81, directors=["x1", "x2"]),
        vs("all", port=82),
    ])
    for dry_run in (True, False):
        with pytest.raises(configio.ConfigRefused) as refused:
            configio.write_config(config, replace=True, include_settings=False, dry_run=dry_run)
        assert refused.value.problems == [
            "virtual server web: no director named 'edge-9' here; add it first, "
            "or take it out of the virtual server's directors (none = every enabled director)",
            "virtual server api: no directors named 'x1', 'x2' here; add them first, "
            "or take them out of the virtual server's directors (none = every enabled director)",
        ]
    assert (state(), links()) == before


def test_replace_changes_the_directors_to_the_ones_named_and_an_empty_list_means_all():
    lab, edge = factories.director("lab"), factories.director("edge")
    configio.write_config(Config(virtual_servers=[vs("web", directors=["lab"])]), include_settings=False)
    web = VirtualServer.objects.get(name="web")
    assert list(web.directors.all()) == [lab]
    plan = configio.write_config(Config(virtual_servers=[vs("web", directors=["edge"])]), replace=True, include_settings=False)
    assert [str(c) for c in plan.changes] == ["~ virtual server web: directors lab → edge"]
    assert list(web.directors.all()) == [edge]
    plan = configio.write_config(Config(virtual_servers=[vs("web")]), replace=True, include_settings=False)
    assert [str(c) for c in plan.changes] == ["~ virtual server web: directors edge → (every enabled director)"]
    assert list(web.directors.all()) == []


def test_the_preview_lists_changes_of_check_targets_and_slow_start():
    configio.write_config(Config(virtual_servers=[vs("web", real=[("r1", "192.0.2.11")])]), include_settings=False)
    changed = vs("web", real=[("r1", "192.0.2.11")], health_check=HealthCheckConfig(slow_start=30))
    changed.real_servers[0].check_address, changed.real_servers[0].check_port = "198.51.100.11", 8081
    plan = configio.write_config(Config(virtual_servers=[changed]), replace=True, include_settings=False, dry_run=True)
    assert [str(c) for c in plan.changes] == [
        "~ virtual server web: check slow_start 0 → 30; real server r1 check_address (blank) → 198.51.100.11; "
        "real server r1 check_port (none) → 8081",
    ]


def test_an_added_virtual_server_shows_its_directors_in_the_preview_and_the_audit_digest():
    factories.director("edge-1")
    plan = configio.write_config(Config(virtual_servers=[vs("web", directors=["edge-1"])]), include_settings=False)
    assert str(plan.changes[0]).endswith("real servers: (none), directors: edge-1")
    assert AuditEntry.objects.get().after["vs web.directors"] == ["edge-1"]


def test_a_restore_that_changes_one_check_program_records_that_field_before_and_after():
    configio.write_config(Config(virtual_servers=[vs("web")]), include_settings=False)
    changed = configio.read_config()
    changed.virtual_servers[0].health_check.check_type = "program"
    changed.virtual_servers[0].health_check.send_program = "/usr/local/lib/lbadmin/checks/owa %h %p"
    configio.write_config(changed, replace=True, include_settings=False, action="restore", source="b.json")
    entry = AuditEntry.objects.filter(action="restore").get()
    assert entry.before == {"vs web.check.check_type": "tcp", "vs web.check.send_program": ""}
    assert entry.after == {"vs web.check.check_type": "program",
                           "vs web.check.send_program": "/usr/local/lib/lbadmin/checks/owa %h %p"}
    assert [c[0] for c in entry.changes()] == ["vs web.check.check_type", "vs web.check.send_program"]


@pytest.mark.parametrize("kind, path", [
    (configio.LVSCF, "tests/corpus/lvscf/persistence.cf"),
    (configio.KEEPALIVED, "tests/corpus/keepalived/http_and_tcp.conf"),
])
def test_a_replace_import_from_a_format_without_directors_keeps_those_of_the_servers_it_replaces(kind, path):
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / path).read_text()
    first = configio.parse_source(kind, text, path)
    configio.write_config(first.config, include_settings=first.include_settings)
    name = first.config.virtual_servers[0].name
    lab = factories.director("lab")
    VirtualServer.objects.get(name=name).directors.add(lab)
    again = configio.parse_source(kind, text, path)
    assert again.config.virtual_servers[0].directors == ["lab"]
    assert all(s.directors == [] for s in again.config.virtual_servers[1:])
    plan = configio.write_config(again.config, replace=True, include_settings=again.include_settings)
    assert plan.changes == []
    assert list(VirtualServer.objects.get(name=name).directors.all()) == [lab]


def test_an_ipv4_mapped_address_is_refused_with_the_address_to_use_instead():
    # ::ffff:192.0.2.11 is an IPv4 host: the kernel would never match it for an IPv6 VIP.
    web = vs("web", address="2001:db8::80", real=[("r1", "::ffff:c000:20b")])
    with pytest.raises(configio.ConfigRefused, match=r"use 192\.0\.2\.11 with an IPv4 virtual server"):
        configio.write_config(Config(virtual_servers=[web]), include_settings=False)
    assert not RealServer.objects.exists()