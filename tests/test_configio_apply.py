"""configio.apply_config: one transaction, the database's rules, add or replace, one audit entry."""
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
from virtualservers.models import HealthCheck, RealServer, VirtualServer

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
    plan = configio.apply_config(config, include_settings=False)
    assert [str(c) for c in plan.changes] == ["+ virtual server web: active tcp 192.0.2.80:80 wlc, http check, real servers: web1 192.0.2.11"]
    stored = VirtualServer.objects.get(name="web")
    assert stored.health_check.check_type == "http"
    assert stored.real_servers.get().admin_state == "enabled"
    assert configio.read_config().virtual_servers == config.virtual_servers


def test_it_refuses_to_overwrite_an_existing_virtual_server_without_replace():
    factories.virtual_server(name="web", address="192.0.2.80", port=80)
    before = state()
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.apply_config(Config(virtual_servers=[vs("web", port=8080), vs("new", port=81)]), include_settings=False)
    assert refused.value.problems == ["virtual server 'web' exists; replace to overwrite it"]
    assert state() == before


def test_it_refuses_to_overwrite_configured_global_settings_without_replace():
    cluster = ClusterSettings.load()
    cluster.network = "direct"
    cluster.save()
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.apply_config(Config(cluster=ClusterConfig(network="tunnel")))
    assert "global settings differ from the database (network direct → tunnel)" in refused.value.problems[0]


def test_it_takes_global_settings_over_the_defaults_without_replace():
    configio.apply_config(Config(cluster=ClusterConfig(network="direct", serial_no=12, primary="192.0.2.5")))
    cluster = ClusterSettings.load()
    assert (cluster.network, cluster.serial_no, cluster.primary) == ("direct", 12, "192.0.2.5")


def test_replace_updates_in_place_keeps_ids_and_directors_and_deletes_the_rest():
    director = factories.director()
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80)
    web.directors.add(director)
    keep = factories.real_server(web, name="web1", address="192.0.2.11")
    factories.virtual_server(name="old", address="192.0.2.90", port=80)
    config = Config(virtual_servers=[vs("web", port=8080, real=[("web1", "192.0.2.11"), ("web2", "192.0.2.12")])])
    plan = configio.apply_config(config, replace=True, include_settings=False)
    assert {(c.action, c.name) for c in plan.changes} == {("change", "web"), ("remove", "old")}
    web.refresh_from_db()
    assert web.port == 8080 and list(web.directors.all()) == [director]
    assert web.real_servers.get(name="web1").pk == keep.pk
    assert not VirtualServer.objects.filter(name="old").exists()


def test_replace_can_swap_the_endpoints_of_two_virtual_servers():
    factories.virtual_server(name="a", address="192.0.2.80", port=80)
    factories.virtual_server(name="b", address="192.0.2.80", port=81)
    configio.apply_config(Config(virtual_servers=[vs("a", port=81), vs("b", port=80)]), replace=True, include_settings=False)
    assert dict(VirtualServer.objects.values_list("name", "port")) == {"a": 81, "b": 80}


def test_replace_can_swap_the_addresses_of_two_real_servers():
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80)
    factories.real_server(web, name="r1", address="192.0.2.11")
    factories.real_server(web, name="r2", address="192.0.2.12")
    config = Config(virtual_servers=[vs("web", real=[("r1", "192.0.2.12"), ("r2", "192.0.2.11")])])
    configio.apply_config(config, replace=True, include_settings=False)
    assert dict(RealServer.objects.values_list("name", "address")) == {"r1": "192.0.2.12", "r2": "192.0.2.11"}


def test_replace_can_move_a_virtual_server_to_ipv6_with_its_real_servers():
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80, vip_nmask="", pmask="")
    factories.real_server(web, name="r1", address="192.0.2.11")
    config = Config(virtual_servers=[vs("web", address="2001:db8::80", real=[("r1", "2001:db8::11")])])
    configio.apply_config(config, replace=True, include_settings=False)
    assert RealServer.objects.get().address == "2001:db8::11"


def test_the_database_rules_apply_and_nothing_is_written_when_one_object_is_refused():
    # The format allows a persistence mask without persistence; the model does not.
    bad = vs("bad", port=81, pmask="255.255.255.0", persistent=0)
    before = state()
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.apply_config(Config(virtual_servers=[vs("good"), bad]), include_settings=False)
    assert refused.value.problems == ["virtual server bad: pmask: A persistence netmask needs a persistence timeout."]
    assert state() == before


def test_a_check_method_the_model_does_not_know_is_refused():
    config = Config(virtual_servers=[vs("web", health_check=HealthCheckConfig(check_type="http", http_method="PATCH"))])
    with pytest.raises(configio.ConfigRefused) as refused:
        configio.apply_config(config, include_settings=False)
    assert refused.value.problems[0].startswith("virtual server web, health check: http_method:")
    assert not VirtualServer.objects.exists()


def test_a_dry_run_reports_the_changes_and_changes_nothing(django_capture_on_commit_callbacks):
    before = state()
    with django_capture_on_commit_callbacks() as callbacks:
        plan = configio.apply_config(Config(virtual_servers=[vs("web")]), include_settings=False, dry_run=True)
    assert plan.dry_run and plan.summary_line() == "1 added, 0 changed, 0 removed"
    assert state() == before and callbacks == []


def test_an_apply_is_one_audit_entry_and_queues_a_reconcile_on_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        configio.apply_config(Config(virtual_servers=[vs("a"), vs("b", port=81)]), include_settings=False,
                              action="import", source="site.cf", actor="tester")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.username) == ("import", "Configuration", "tester")
    assert "site.cf" in entry.message and "2 added" in entry.message
    assert entry.before == {} and set(entry.after) == {"virtual server a", "virtual server b"}
    assert len(callbacks) == 1


def test_an_apply_that_changes_nothing_writes_no_audit_entry_and_queues_nothing(django_capture_on_commit_callbacks):
    config = Config(virtual_servers=[vs("a", real=[("r", "192.0.2.1")])])
    configio.apply_config(config, include_settings=False)
    count = AuditEntry.objects.count()
    with django_capture_on_commit_callbacks() as callbacks:
        plan = configio.apply_config(config, replace=True, include_settings=False)
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
    configio.apply_config(config, include_settings=False)
    assert RealServer.objects.get().drain_started_at is not None
