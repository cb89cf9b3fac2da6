"""plan(), the Command forms, set_timeouts() and the simulate() simulator."""

import dataclasses

import pytest

from virtualservers.ipvs import (
    Command, CommandFailed, Destination, Service, ServiceKey, Table, UnexpressibleTable,
    parse_save, plan, render_restore, set_timeouts, simulate,
)

WEB = ServiceKey("tcp", "192.0.2.1", 80)
A = Destination("10.0.0.1", 80, "masq", 1)
B = Destination("10.0.0.2", 80, "masq", 1)
WEB_SERVICE = Service(WEB, "wlc", destinations=[A, B])


def lines(commands):
    return [c.line for c in commands]


def test_it_adds_a_whole_service_with_its_servers():
    assert lines(plan(Table(), Table([WEB_SERVICE]))) == [
        "-A -t 192.0.2.1:80 -s wlc",
        "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 1",
    ]


def test_it_deletes_a_service_with_one_command():
    assert lines(plan(Table([WEB_SERVICE]), Table())) == ["-D -t 192.0.2.1:80"]


def test_a_changed_address_is_a_delete_and_an_add():
    moved = Service(ServiceKey("tcp", "192.0.2.2", 80), "wlc", destinations=[A])
    assert lines(plan(Table([WEB_SERVICE]), Table([moved]))) == [
        "-D -t 192.0.2.1:80",
        "-A -t 192.0.2.2:80 -s wlc",
        "-a -t 192.0.2.2:80 -r 10.0.0.1:80 -m -w 1",
    ]


def test_a_changed_protocol_or_port_is_a_new_service():
    udp = dataclasses.replace(WEB_SERVICE, key=ServiceKey("udp", "192.0.2.1", 80))
    ops = [c.op for c in plan(Table([WEB_SERVICE]), Table([udp]))]
    assert ops == ["-D", "-A", "-a", "-a"]


def test_a_scheduler_or_persistence_change_is_one_edit_carrying_every_setting():
    sticky = dataclasses.replace(WEB_SERVICE, scheduler="rr", persistent=600,
                                 netmask="255.255.255.0")
    assert lines(plan(Table([WEB_SERVICE]), Table([sticky]))) == [
        "-E -t 192.0.2.1:80 -s rr -p 600 -M 255.255.255.0"]
    # -E resets what it is not given, so dropping persistence is an -E without -p.
    assert lines(plan(Table([sticky]), Table([WEB_SERVICE]))) == ["-E -t 192.0.2.1:80 -s wlc"]


def test_a_weight_or_forwarding_change_is_one_server_edit():
    heavier = WEB_SERVICE.with_destinations([dataclasses.replace(A, weight=5), B])
    assert lines(plan(Table([WEB_SERVICE]), Table([heavier]))) == [
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 5"]
    routed = WEB_SERVICE.with_destinations([dataclasses.replace(A, forwarding="route"), B])
    assert lines(plan(Table([WEB_SERVICE]), Table([routed]))) == [
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1"]


def test_it_orders_deletes_then_edits_then_adds():
    old = Table([WEB_SERVICE, Service(ServiceKey("tcp", "192.0.2.9", 80), destinations=[A])])
    new = Table([Service(WEB, "rr", destinations=[B, Destination("10.0.0.3", 80, "masq", 1)]),
                 Service(ServiceKey("udp", "192.0.2.1", 53), destinations=[
                     Destination("10.0.0.1", 53)])])
    assert lines(plan(old, new)) == [
        "-d -t 192.0.2.1:80 -r 10.0.0.1:80",
        "-D -t 192.0.2.9:80",
        "-E -t 192.0.2.1:80 -s rr",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m -w 1",
        "-A -u 192.0.2.1:53 -s wlc",
        "-a -u 192.0.2.1:53 -r 10.0.0.1:53 -g -w 1",
    ]
    assert simulate(old, plan(old, new)) == new


def test_it_writes_thresholds_only_when_set():
    capped = WEB_SERVICE.with_destinations([dataclasses.replace(A, u_threshold=100, l_threshold=10), B])
    assert lines(plan(Table([WEB_SERVICE]), Table([capped]))) == [
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1 -x 100 -y 10"]


def test_it_plans_fwmark_and_ipv6_services():
    mark = Service(ServiceKey.for_fwmark(5, family=6), "sh", persistent=300, netmask="64",
                   sched_flags=("sh-port",),
                   destinations=[Destination("2001:db8::5", 0, "tunnel", 2)])
    assert lines(plan(Table(), Table([mark]))) == [
        "-A -f 5 -6 -s sh -p 300 -M 64 -b sh-port",
        "-a -f 5 -6 -r [2001:db8::5]:0 -i -w 2",
    ]


def test_a_command_gives_its_line_argv_and_summary():
    command = plan(Table(), Table([WEB_SERVICE]))[1]
    assert command.argv == ["ipvsadm", "-a", "-t", "192.0.2.1:80", "-r", "10.0.0.1:80", "-m", "-w", "1"]
    assert str(command) == command.line == "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1"
    assert command.summary == "add server: -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1"


def test_it_builds_the_restore_batch_text():
    commands = plan(Table(), Table([WEB_SERVICE]))
    assert render_restore(commands) == "".join(c.line + "\n" for c in commands)
    assert render_restore([]) == ""


def test_it_refuses_a_restore_line_that_would_become_two_commands():
    with pytest.raises(ValueError, match="newline"):
        render_restore(["-A -t 192.0.2.1:80 -s wlc\n-C"])


def test_set_timeouts_passes_zero_through_to_leave_a_value_unchanged():
    assert set_timeouts(900, 0, 300).argv == ["ipvsadm", "--set", "900", "0", "300"]
    with pytest.raises(ValueError, match="tcpfin"):
        set_timeouts(900, -1, 300)
    with pytest.raises(ValueError, match="udp"):
        set_timeouts(0, 0, 86400 * 31 + 1)


def test_it_refuses_to_plan_a_table_ipvsadm_cannot_produce():
    desired = Table([
        Service(WEB, destinations=[Destination("10.0.0.1", 8080, "route")]),
        Service(ServiceKey("tcp", "192.0.2.5", 0)),
        Service(ServiceKey("udp", "192.0.2.6", 53), destinations=[Destination("2001:db8::1", 53, "masq")]),
        Service(ServiceKey("tcp", "192.0.2.7", 80), ops=True),
    ])
    with pytest.raises(UnexpressibleTable) as caught:
        plan(Table(), desired)
    problems = caught.value.problems
    assert len(problems) == 4
    assert any("cannot change the port" in p for p in problems)
    assert any("port 0 needs persistence" in p for p in problems)
    assert any("needs tunnel forwarding" in p for p in problems)
    assert any("one-packet" in p for p in problems)


@pytest.mark.parametrize("start, command, message", [
    (Table([WEB_SERVICE]), "-A -t 192.0.2.1:80 -s rr", "Service already exists"),
    (Table(), "-E -t 192.0.2.1:80 -s rr", "No such service"),
    (Table(), "-D -t 192.0.2.1:80", "No such service"),
    (Table(), "-a -t 192.0.2.1:80 -r 10.0.0.1:80", "Service not defined"),
    (Table([WEB_SERVICE]), "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m", "Destination already exists"),
    (Table([WEB_SERVICE]), "-e -t 192.0.2.1:80 -r 10.0.0.9:80 -m", "No such destination"),
    (Table([WEB_SERVICE]), "-d -t 192.0.2.1:80 -r 10.0.0.9:80", "No such destination"),
    (Table(), "-A -t 192.0.2.1:80 -s fastest", "Scheduler or persistence engine not found"),
    (Table([WEB_SERVICE]), "-a -t 192.0.2.1:80 -r [2001:db8::1]:80 -m",
     "Different address family is allowed only for tunneling servers"),
])
def test_the_simulator_refuses_what_the_kernel_refuses(start, command, message):
    with pytest.raises(CommandFailed) as caught:
        simulate(start, [command])
    assert caught.value.stderr.strip() == message


def test_the_simulator_gives_direct_routing_servers_the_service_port_like_ipvsadm():
    table = simulate(Table(), ["-A -t 192.0.2.1:80", "-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -g"])
    assert list(table[WEB].destinations) == [("10.0.0.1", 80)]


def test_the_simulator_clears_and_ignores_timeouts():
    assert simulate(Table([WEB_SERVICE]), [set_timeouts(1, 2, 3), Command(("-C",))]) == Table()


def test_a_table_survives_the_trip_through_restore_lines_and_save_text():
    desired = Table([WEB_SERVICE])
    reached = simulate(Table(), render_restore(plan(Table(), desired)).splitlines())
    assert parse_save("-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1\n"
                      "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 1\n") == reached == desired
