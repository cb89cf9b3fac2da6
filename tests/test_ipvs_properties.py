"""Properties of render/parse and plan/apply over generated tables (hypothesis)."""

import dataclasses
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from virtualservers.ipvs import Table, parse_save, plan, render, simulate
from virtualservers.ipvs.addresses import ntop6

from .test_ipvs_support import tables

# No example database: it would write .hypothesis/ into the work tree.
PROPERTIES = settings(max_examples=100, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])
ORDER = {"-d": 0, "-D": 0, "-E": 1, "-e": 1, "-A": 2, "-a": 2}


@PROPERTIES
@given(tables())
def test_it_parses_back_every_table_it_renders(table):
    assert parse_save(render(table)) == table


@PROPERTIES
@given(tables())
def test_it_renders_a_parsed_save_to_the_same_text(table):
    text = render(table)
    assert render(parse_save(text)) == text


@PROPERTIES
@given(tables(thresholds=True), tables(thresholds=True))
def test_a_render_through_the_cache_of_an_earlier_one_gives_the_same_text(earlier, table):
    cache: dict = {}
    render(earlier, cache)
    mixed = Table({**earlier, **table})  # services kept, changed and added
    assert render(mixed, cache) == render(mixed)
    assert set(cache) == set(mixed.values())  # left holding this table's services only


@PROPERTIES
@given(tables(thresholds=True), tables(thresholds=True))
def test_applying_the_plan_gives_the_desired_table(live, desired):
    commands = plan(live, desired)
    assert simulate(live, commands) == desired
    # The same commands as ipvsadm -R lines reach the same table.
    assert simulate(live, [c.line for c in commands]) == desired


@PROPERTIES
@given(tables(thresholds=True), tables(thresholds=True))
def test_a_plan_deletes_first_then_edits_then_adds(live, desired):
    phases = [ORDER[c.op] for c in plan(live, desired)]
    assert phases == sorted(phases)


@PROPERTIES
@given(tables(thresholds=True), tables(thresholds=True))
def test_a_second_plan_after_applying_the_first_is_empty(live, desired):
    reached = simulate(live, plan(live, desired))
    assert plan(reached, desired) == []


@PROPERTIES
@given(tables(thresholds=True))
def test_it_plans_nothing_for_an_unchanged_table(table):
    assert plan(table, table) == []


@PROPERTIES
@given(tables(thresholds=True), st.data())
def test_toggling_one_destination_takes_exactly_one_command(table, data):
    with_dests = [s for s in table.values() if s.destinations]
    if not with_dests:
        return
    service = data.draw(st.sampled_from(sorted(with_dests, key=lambda s: s.key.sort_key())))
    dest = data.draw(st.sampled_from(service.destinations.sorted()))
    without = Table({**table, service.key: service.with_destinations(
        d for d in service.destinations.values() if d.key != dest.key)})

    removed = plan(table, without)
    assert [c.op for c in removed] == ["-d"]
    added = plan(without, table)
    assert [c.op for c in added] == ["-a"]
    assert simulate(without, added) == table


@PROPERTIES
@given(tables(thresholds=True), st.data())
def test_changing_one_weight_takes_exactly_one_edit(table, data):
    with_dests = [s for s in table.values() if s.destinations]
    if not with_dests:
        return
    service = data.draw(st.sampled_from(sorted(with_dests, key=lambda s: s.key.sort_key())))
    dest = data.draw(st.sampled_from(service.destinations.sorted()))
    changed = dataclasses.replace(dest, weight=(dest.weight + 1) % 65536)
    after = Table({**table, service.key: service.with_destinations(
        changed if d.key == dest.key else d for d in service.destinations.values())})
    commands = plan(table, after)
    assert [c.op for c in commands] == ["-e"]
    assert f"-w {changed.weight}" in commands[0].line


@PROPERTIES
@given(st.integers(0, 2**128 - 1) | st.sampled_from(
    [0, 1, 0xFFFF00000000 + 0xC0000209, 0x01020304, 2**128 - 1, 1 << 112, (1 << 16) - 1]))
def test_it_formats_ipv6_addresses_like_glibc_inet_ntop(value):
    assert ntop6(value) == socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
