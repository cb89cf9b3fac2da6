"""Parsers of ipvsadm output, on samples laid out as ipvsadm 1.31 prints them."""

import pytest

from virtualservers.ipvs import (
    Connections, Destination, DestRef, ParseError, Rates, Service, ServiceKey, Stats, Table,
    parse_list, parse_rate, parse_save, parse_stats, render,
)
from virtualservers.ipvs.parse import parse_rule

SAVE = """\
-A -t 192.0.2.1:80 -s wlc -p 300 -M 255.255.255.0
-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1
-a -t 192.0.2.1:80 -r 10.0.0.2:8080 -m -w 0
-A -u 192.0.2.1:53 -s rr -o
-a -u 192.0.2.1:53 -r 10.0.0.1:53 -g -w 3
-A --sctp-service 192.0.2.2:5000 -s sh -b sh-fallback,sh-port
-A -t [2001:db8::1]:443 -s lc -p 600 -M 64 --pe sip
-a -t [2001:db8::1]:443 -r 10.1.1.1:443 -i -w 1 --tun-type ipip
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 5
-A -f 7 -s wlc
-a -f 7 -r 10.0.0.7:0 -i -w 1 --tun-type ipip
-A -f 8 -6 -s wrr -p 300 -M 96
-a -f 8 -6 -r [2001:db8::8]:0 -g -w 0
"""

WEB = ServiceKey("tcp", "192.0.2.1", 80)
DNS = ServiceKey("udp", "192.0.2.1", 53)
SIP = ServiceKey("sctp", "192.0.2.2", 5000)
WEB6 = ServiceKey("tcp", "2001:db8::1", 443)
MARK7 = ServiceKey.for_fwmark(7)
MARK8 = ServiceKey.for_fwmark(8, family=6)

EXPECTED = Table([
    Service(WEB, "wlc", persistent=300, netmask="255.255.255.0", destinations=[
        Destination("10.0.0.1", 80, "masq", 1), Destination("10.0.0.2", 8080, "masq", 0)]),
    Service(DNS, "rr", ops=True, destinations=[Destination("10.0.0.1", 53, "route", 3)]),
    Service(SIP, "sh", sched_flags=("sh-fallback", "sh-port")),
    Service(WEB6, "lc", persistent=600, netmask="64", pe="sip", destinations=[
        Destination("2001:db8::10", 443, "route", 5), Destination("10.1.1.1", 443, "tunnel", 1)]),
    Service(MARK7, "wlc", destinations=[Destination("10.0.0.7", 0, "tunnel", 1)]),
    Service(MARK8, "wrr", persistent=300, netmask="96",
            destinations=[Destination("2001:db8::8", 0, "route", 0)]),
])


def test_it_parses_a_save_with_every_kind_of_service():
    assert parse_save(SAVE) == EXPECTED


def test_it_renders_the_same_save_text_back():
    assert render(parse_save(SAVE)) == SAVE


def test_it_reads_the_persistence_mask_and_forwarding_of_each_destination():
    table = parse_save(SAVE)
    assert table[WEB].netmask == "255.255.255.0"
    assert table[WEB6].netmask == "64"
    assert [d.forwarding for d in table[WEB6].destinations.sorted()] == ["tunnel", "route"]
    assert table[WEB].destinations[("10.0.0.2", 8080)].weight == 0


def test_it_parses_an_empty_save_as_an_empty_table():
    assert parse_save("") == Table()
    assert parse_save("\n\n") == Table()


def test_it_accepts_tunnels_printed_without_a_tunnel_type_by_older_ipvsadm():
    old = "-A -f 7 -s wlc\n-a -f 7 -r 10.0.0.7:0 -i -w 1\n"
    assert parse_save(old) == Table([EXPECTED[MARK7]])


def test_it_takes_the_general_path_for_unusual_but_valid_lines():
    # Long options and odd spacing are not ipvsadm -S output, but are still valid rules.
    text = "  -A   --tcp-service 192.0.2.9:80 --scheduler rr\n-a -t 192.0.2.9:80 --real-server 10.0.0.9:80 --masquerading -w 4\n"
    table = parse_save(text)
    key = ServiceKey("tcp", "192.0.2.9", 80)
    assert table[key].scheduler == "rr"
    assert table[key].destinations[("10.0.0.9", 80)] == Destination("10.0.0.9", 80, "masq", 4)


def test_it_keeps_the_port_a_save_shows_for_direct_routing():
    # -S describes kernel state: a DR destination on another port (as keepalived can
    # make) is read as it is, not "corrected" as ipvsadm does with an input command.
    text = "-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -g -w 1\n"
    assert ("10.0.0.1", 8080) in parse_save(text)[WEB].destinations


def test_it_normalizes_ipv6_addresses_the_way_glibc_prints_them():
    text = "-A -t [2001:DB8:0:0::1]:80 -s wlc\n-a -t [2001:DB8:0:0::1]:80 -r [::FFFF:C000:0209]:80 -m -w 1\n"
    table = parse_save(text)
    key = ServiceKey("tcp", "2001:db8::1", 80)
    assert list(table[key].destinations) == [("::ffff:192.0.2.9", 80)]


@pytest.mark.parametrize("text, lineno, reason", [
    ("-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 70000\n", 2, "weight"),
    ("-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.300:80 -m -w 1\n", 2, "real server"),
    ("-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1\n", 1, "before its -A line"),
    ("-A -t 192.0.2.1:80 -s wlc\n-A -t 192.0.2.1:80 -s rr\n", 2, "defined twice"),
    ("-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1\n"
     "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1\n", 3, "listed twice"),
    ("-A -t 192.0.2.1:80 -s wlc\n-D -t 192.0.2.1:80\n", 2, "does not appear"),
    ("-A -t 192.0.2.1:80 -s wlc --frobnicate\n", 1, "unknown"),
    ("-A -t www.example.com:80 -s wlc\n", 1, "virtual server"),
    ("-A -t 192.0.2.1:http -s wlc\n", 1, "virtual server"),
    ("-A -t 192.0.2.1:0 -s wlc\n", 1, "Zero port"),
    ("-A -t 192.0.2.1:80 -s wlc -p 300 -M 64\n", 1, "netmask"),
    ("-A -f 0 -s wlc\n", 1, "fwmark"),
    ("-A -t 192.0.2.1:80 -s 'wlc;reboot'\n", 1, "scheduler"),
    ("-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue\n",
     2, "tunnel type"),
    ("hello\n", 1, "expected a command"),
])
def test_it_rejects_malformed_save_lines_with_the_line_number(text, lineno, reason):
    with pytest.raises(ParseError) as caught:
        parse_save(text)
    assert caught.value.lineno == lineno
    assert reason in str(caught.value)
    assert f"line {lineno}:" in str(caught.value)


def test_it_applies_ipvsadm_defaults_to_input_rules():
    rule = parse_rule("-a -t 192.0.2.1:80 -r 10.0.0.1")
    assert rule.destination == Destination("10.0.0.1", 80, "route", 1)
    # ipvsadm gives direct-routing servers the service port whatever was asked.
    assert parse_rule("-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -g").destination.port == 80
    assert parse_rule("-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -m").destination.port == 8080
    rule = parse_rule("-A -t 192.0.2.1:80 -p")
    assert rule.service() == Service(WEB, "wlc", persistent=300)
    assert parse_rule("--set 900 120 300").timeouts == (900, 120, 300)


@pytest.mark.parametrize("line, reason", [
    ("-A -t 192.0.2.1:80 -r 10.0.0.1:80", "not valid with -A"),
    ("-a -t 192.0.2.1:80 -s rr -r 10.0.0.1:80", "not valid with -a"),
    ("-a -t 192.0.2.1:80", "needs a real server"),
    ("-A -s rr", "needs a service"),
    ("-A -t 192.0.2.1:80 -t 192.0.2.2:80", "multiple"),
    ("-A -t 192.0.2.1:80 -6", "-6 used before -f"),
    ("-A -t 192.0.2.1:80 -o", "One-Packet"),
    ("--set 1 2", "3 timeout values"),
    ("-a -t 192.0.2.1:80 -r 10.0.0.1:80 -x 1 -y 5", "l_threshold"),
])
def test_it_refuses_rules_ipvsadm_refuses(line, reason):
    with pytest.raises(ParseError, match=reason):
        parse_rule(line)


LIST = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.1:80 wlc persistent 300 mask 255.255.255.0
  -> 10.0.0.1:80                  Masq    1      12         3         
  -> 10.0.0.2:8080                Masq    0      0          7         
UDP  192.0.2.1:53 rr ops
  -> 10.0.0.1:53                  Route   3      0          41        
SCTP 192.0.2.2:5000 sh (sh-fallback,sh-port)
TCP  [2001:db8::1]:443 lc persistent 600 mask 64 pe sip
  -> 10.1.1.1:443                 Tunnel  1      0          0         
  -> [2001:db8::10]:443           Route   5      2          0         
FWM  7 wlc
  -> 10.0.0.7:0                   Tunnel  1      0          0         
FWM  8 IPv6 wrr persistent 300 mask 96
  -> [2001:db8::8]:0              Route   0      1          2         
"""


def test_it_parses_the_listing_into_the_same_table_as_the_save():
    report = parse_list(LIST)
    assert report.table == EXPECTED
    assert (report.version, report.size) == ("1.2.1", 4096)


def test_it_reads_active_and_inactive_connections_per_destination():
    report = parse_list(LIST)
    assert report.connections[DestRef(WEB, "10.0.0.1", 80)] == Connections("masq", 1, 12, 3)
    assert report.connections[DestRef(DNS, "10.0.0.1", 53)].inactive == 41
    assert report.connections[DestRef(MARK8, "2001:db8::8", 0)] == Connections("route", 0, 1, 2)
    assert len(report.connections) == 7


def test_it_reads_a_local_destination_as_direct_routing():
    text = LIST.replace("  -> 10.0.0.1:53                  Route ",
                        "  -> 127.0.0.1:53                 Local ")
    report = parse_list(text)
    assert report.connections[DestRef(DNS, "127.0.0.1", 53)].forwarding == "route"


def test_it_parses_an_empty_listing():
    text = "\n".join(LIST.splitlines()[:3]) + "\n"
    assert parse_list(text).table == Table()


@pytest.mark.parametrize("broken, reason", [
    ("  -> 10.0.0.1:80                  Masq    1      12\n", "expected '-> ADDRESS"),
    ("  -> 10.0.0.1:80                  Bridge  1      12         3\n", "expected '-> ADDRESS"),
    ("TCP  192.0.2.1:80 wlc persistent\n", "malformed service row"),
    ("TCP  192.0.2.1:80 wlc sticky\n", "unknown service flag"),
    ("Hello world\n", "unexpected line"),
])
def test_it_rejects_a_malformed_listing_with_the_line_number(broken, reason):
    lines = LIST.splitlines(keepends=True)
    lines.insert(5, broken)
    with pytest.raises(ParseError, match=reason) as caught:
        parse_list("".join(lines))
    assert caught.value.lineno == 6


def test_it_refuses_stats_output_as_a_listing():
    with pytest.raises(ParseError, match="not the plain listing"):
        parse_list(STATS)


STATS = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.1:80                     1234    56789    45678  9876543 123456789012
  -> 10.0.0.1:80                      1000    50000    40000  9000000 123456789000
  -> 10.0.0.2:8080                     234     6789     5678   876543       12
TCP  [2001:db8:ffff:ffff:ffff:ffff:ffff:1]:65535        0        0        0        0        0
  -> [2001:db8:ffff:ffff:ffff:ffff:ffff:10]:65535        0        0        0        0        0
FWM  8 IPv6                              5        6        7        8        9
  -> [2001:db8::8]:0                     5        6        7        8        9
"""


def test_it_parses_exact_stats_per_service_and_destination():
    report = parse_stats(STATS)
    assert report.services[WEB] == Stats(1234, 56789, 45678, 9876543, 123456789012)
    assert report.destinations[DestRef(WEB, "10.0.0.2", 8080)] == Stats(234, 6789, 5678, 876543, 12)
    long_key = ServiceKey("tcp", "2001:db8:ffff:ffff:ffff:ffff:ffff:1", 65535)
    assert report.services[long_key] == Stats(0, 0, 0, 0, 0)
    assert report.destinations[DestRef(MARK8, "2001:db8::8", 0)].outbytes == 9
    assert len(report.destinations) == 4


def test_it_expands_abbreviated_counters_printed_without_exact():
    text = STATS.replace("123456789012", "     123G").replace("  56789", "123456K")
    report = parse_stats(text)
    assert report.services[WEB].inpkts == 123456000
    assert report.services[WEB].outbytes == 123 * 10**9


RATE = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
UDP  192.0.2.1:53                       12      340      330    45000    52000
  -> 10.0.0.1:53                        12      340      330    45000    52000
FWM  7                                   0        0        0        0        0
  -> 10.0.0.7:0                          0        0        0        0        0
"""


def test_it_parses_rates():
    report = parse_rate(RATE)
    assert report.services[DNS] == Rates(12, 340, 330, 45000, 52000)
    assert report.destinations[DestRef(MARK7, "10.0.0.7", 0)] == Rates(0, 0, 0, 0, 0)


def test_it_refuses_to_read_rates_as_stats_and_the_reverse():
    with pytest.raises(ParseError, match="Conns InPkts") as caught:
        parse_stats(RATE)
    assert caught.value.lineno == 2
    with pytest.raises(ParseError, match="CPS InPPS"):
        parse_rate(STATS)


def test_it_rejects_a_counter_row_that_is_cut_short():
    text = STATS.replace("  -> 10.0.0.1:80                      1000    50000    40000  9000000 123456789000",
                         "  -> 10.0.0.1:80                      1000    50000")
    with pytest.raises(ParseError) as caught:
        parse_stats(text)
    assert caught.value.lineno == 5
