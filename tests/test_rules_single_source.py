"""One list, one place: the choice lists and value rules live in virtualservers/formats
(choices.py, validate.py). Where a copy remains, in a package that must not import
formats, these tests prove it equal; where Django derives from the list, they prove the
derivation took every value."""
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbadmin.models import ClusterSettings, RedundancySettings
from monitoring.checks import matching
from monitoring.checks import spec as check_spec
from monitoring.checks.http_check import _METHOD_RE
from virtualservers.formats import choices, keepalived, lvscf
from virtualservers.formats import validate as v
from virtualservers.ipvs import model as ipvs_model
from virtualservers.models import Forwarding, HealthCheck, Protocol, RealServer, Scheduler, VirtualServer

# Model field -> the pure list it must offer. Runtime states (health, apply results,
# director status) are not configuration and are not listed here.
CHOICE_FIELDS = {
    (ClusterSettings, "service"): choices.SERVICE_CHOICES,
    (ClusterSettings, "network"): choices.NETWORK_CHOICES,
    (ClusterSettings, "rsh_command"): choices.RSH_COMMAND_CHOICES,
    (VirtualServer, "protocol"): choices.PROTOCOL_CHOICES,
    (VirtualServer, "scheduler"): choices.SCHEDULER_CHOICES,
    (VirtualServer, "forwarding"): choices.FORWARDING_CHOICES,
    (VirtualServer, "load_monitor"): choices.LOAD_MONITOR_CHOICES,
    (RealServer, "admin_state"): choices.ADMIN_STATE_CHOICES,
    (RealServer, "forwarding"): choices.FORWARDING_CHOICES,
    (HealthCheck, "check_type"): choices.CHECK_TYPE_CHOICES,
    (HealthCheck, "initial_state"): choices.INITIAL_STATE_CHOICES,
    (HealthCheck, "http_method"): choices.HTTP_METHOD_CHOICES,
    (HealthCheck, "dns_type"): choices.DNS_TYPE_CHOICES,
}

RANGES = {
    (ClusterSettings, "serial_no"): (0, v.MAX_SERIAL_NO),
    (ClusterSettings, "tcp_timeout"): (0, v.MAX_IPVS_TIMEOUT),
    (ClusterSettings, "tcpfin_timeout"): (0, v.MAX_IPVS_TIMEOUT),
    (ClusterSettings, "udp_timeout"): (0, v.MAX_IPVS_TIMEOUT),
    (RedundancySettings, "heartbeat_port"): (1, v.MAX_PORT),
    (RedundancySettings, "keepalive"): (1, v.MAX_HEARTBEAT_SECONDS),
    (RedundancySettings, "deadtime"): (1, v.MAX_HEARTBEAT_SECONDS),
    (RedundancySettings, "syncd_id"): (0, v.MAX_SYNCD_ID),
    (VirtualServer, "port"): (1, v.MAX_PORT),
    (VirtualServer, "persistent"): (0, v.MAX_IPVS_TIMEOUT),
    (VirtualServer, "drain_timeout"): (0, v.MAX_DRAIN_TIMEOUT),
    (RealServer, "weight"): (0, v.MAX_WEIGHT),
    (HealthCheck, "interval"): (1, v.MAX_CHECK_SECONDS),
    (HealthCheck, "timeout"): (1, v.MAX_CHECK_SECONDS),
    (HealthCheck, "rise"): (1, v.MAX_CHECK_COUNT),
    (HealthCheck, "fall"): (1, v.MAX_CHECK_COUNT),
    (HealthCheck, "slow_start"): (0, v.MAX_CHECK_SECONDS),
}
NULLABLE_RANGES = {
    (VirtualServer, "sorry_port"): (1, v.MAX_PORT),
    (VirtualServer, "fwmark"): (1, v.MAX_FWMARK),
    (RealServer, "port"): (1, v.MAX_PORT),
    (RealServer, "check_port"): (1, v.MAX_PORT),
}


def constraint_conditions(model) -> list:
    return [c.condition for c in model._meta.constraints if hasattr(c, "condition") and c.condition is not None]


def leaves(condition) -> set:
    """The (lookup, value) pairs of a Q, flattened; lists made tuples so they compare."""
    out = set()
    for child in condition.children:
        if hasattr(child, "children"):
            out |= leaves(child)
        else:
            key, value = child
            out.add((key, tuple(value) if isinstance(value, list) else value))
    return out


# --- the engines' own copies ---------------------------------------------------------------


def test_the_kernel_scheduler_list_is_the_configurations():
    assert ipvs_model.SCHEDULERS == v.SCHEDULERS


def test_the_ipvs_limits_are_the_configurations():
    assert ipvs_model.MAX_TIMEOUT == v.MAX_IPVS_TIMEOUT
    assert ipvs_model.MAX_FWMARK == v.MAX_FWMARK


def test_the_checkers_know_every_check_type_and_no_other():
    assert check_spec.CHECK_TYPES == v.CHECK_TYPES


def test_the_http_check_sends_every_method_the_form_offers():
    assert all(_METHOD_RE.match(method) for method in v.HTTP_METHODS)


def test_the_dns_check_knows_every_record_type_the_form_offers():
    assert [dns.rdatatype.to_text(dns.rdatatype.from_text(t)) for t in v.DNS_TYPES] == list(v.DNS_TYPES)


def test_the_keepalived_names_map_onto_the_lists():
    assert set(keepalived.LB_KINDS.values()) == set(v.NETWORKS)
    assert set(keepalived.CHECKERS.values()) <= set(v.CHECK_TYPES)
    assert set(keepalived.CHECKER_OF) == set(v.CHECK_TYPES) - {"none"}


def test_lvscf_carries_a_subset_of_the_protocols():
    assert set(lvscf.LVSCF_PROTOCOLS) < set(v.PROTOCOLS)


def test_forwarding_is_inherit_or_a_network_type():
    assert v.FORWARDINGS == ("",) + v.NETWORKS


# --- the models' choices and constraints ---------------------------------------------------------


@pytest.mark.parametrize(("model", "field"), CHOICE_FIELDS, ids=lambda x: getattr(x, "__name__", x))
def test_each_model_choice_list_is_the_pure_one(model, field):
    assert list(model._meta.get_field(field).choices) == list(CHOICE_FIELDS[model, field])


@pytest.mark.parametrize(("model", "field"), CHOICE_FIELDS, ids=lambda x: getattr(x, "__name__", x))
def test_the_database_refuses_what_the_list_does_not_hold(model, field):
    wanted = (f"{field}__in", tuple(choices.values(CHOICE_FIELDS[model, field])))
    assert any(wanted in leaves(condition) for condition in constraint_conditions(model))


def test_every_configuration_field_with_choices_is_listed():
    configured = {(m, f.name) for m in (ClusterSettings, RedundancySettings, VirtualServer, RealServer, HealthCheck)
                  for f in m._meta.concrete_fields if f.choices and f.editable}
    assert configured == set(CHOICE_FIELDS)


@pytest.mark.parametrize(("model", "field"), {**RANGES, **NULLABLE_RANGES}, ids=lambda x: getattr(x, "__name__", x))
def test_the_database_holds_each_number_to_the_rules_bounds(model, field):
    low, high = {**RANGES, **NULLABLE_RANGES}[model, field]
    found = [leaves(c) for c in constraint_conditions(model) if {(f"{field}__gte", low), (f"{field}__lte", high)} <= leaves(c)]
    assert found, f"no CheckConstraint {low} <= {field} <= {high}"
    if (model, field) in NULLABLE_RANGES:
        assert (f"{field}__isnull", True) in found[0]


def test_the_text_choices_enums_are_built_from_the_lists():
    assert Scheduler.choices == list(choices.SCHEDULER_CHOICES)
    assert Protocol.choices == list(choices.PROTOCOL_CHOICES)
    assert Forwarding.INHERIT == "" and Forwarding.choices == list(choices.FORWARDING_CHOICES)
    assert RealServer.AdminState.DRAINING == "draining"
    assert HealthCheck.CheckType.SEND_EXPECT == "send_expect"


# --- the HTTP status syntax ----------------------------------------------------------------------

status_texts = st.one_of(
    st.text(alphabet="0123456789-, \t", max_size=14),
    st.lists(st.tuples(st.integers(0, 999), st.one_of(st.none(), st.integers(0, 999))), min_size=1, max_size=3).map(
        lambda items: ",".join(f"{a}" if b is None else f"{a}-{b}" for a, b in items)),
)


def _pure(text: str):
    try:
        return v.validate_http_status(text)
    except ValueError:
        return None


def _engine(text: str):
    try:
        return matching.parse_status_codes(text)
    except ValueError:
        return None


@settings(max_examples=500)
@given(status_texts)
def test_the_form_and_the_http_check_accept_the_same_status_lists(text):
    pure, engine = _pure(text), _engine(text)
    assert (pure is None) == (engine is None)
    if pure is not None:
        assert matching.parse_status_codes(pure) == engine
