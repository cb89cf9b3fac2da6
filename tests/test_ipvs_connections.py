"""`ipvsadm -L -n -c` parsed, and counted per destination for a drain: the texts are
real output of ipvsadm 1.31 on the lab's 6.12 kernel."""
import pytest

from virtualservers.ipvs import DestRef, ParseError, Service, ServiceKey, Table, Destination
from virtualservers.ipvs.connections import DrainCount, count_per_destination, parse_connections

# Seen in the lab: a persistent NAT service whose template pointed at rs2 (10.10.0.12)
# when rs2 was set to weight 0 with expire_quiescent_template=1; the client came back, the
# kernel emptied that template (ports 65535) and made a new one to rs1; a 14,400-s
# service with an open connection; an IPv6 persistent service.
LAB_OUTPUT = """\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 01:58  TIME_WAIT   10.20.0.2:53004    10.20.0.101:80     10.10.0.13:80
TCP 00:40  TIME_WAIT   10.20.0.2:53682    10.20.0.100:80     10.10.0.12:80
TCP 01:48  TIME_WAIT   10.20.0.2:38374    10.20.0.100:80     10.10.0.11:80
TCP 239:58 ASSURED     10.20.0.2:0        10.20.0.101:80     10.10.0.13:80
TCP 09:49  ASSURED     10.20.0.2:0        10.20.0.100:80     10.10.0.11:80
TCP 09:48  ASSURED     10.20.0.2:0        10.20.0.100:65535  10.10.0.12:65535
TCP 01:58  TIME_WAIT   [fd00:20::2]:33990 [fd00:20::100]:80  [fd00:10::11]:80
TCP 04:58  ASSURED     [fd00:20::2]:0     [fd00:20::100]:80  [fd00:10::11]:80
TCP 14:58  ESTABLISHED 10.20.0.2:53012    10.20.0.101:80     10.10.0.13:80
"""

WEB = ServiceKey("tcp", "10.20.0.100", 80)
LONG = ServiceKey("tcp", "10.20.0.101", 80)
V6 = ServiceKey("tcp", "fd00:20::100", 80)
TABLE = Table([
    Service(WEB, "rr", persistent=600, destinations=[Destination("10.10.0.11", 80, "masq"),
                                                      Destination("10.10.0.12", 80, "masq", 0)]),
    Service(LONG, "rr", persistent=14400, destinations=[Destination("10.10.0.13", 80, "masq")]),
    Service(V6, "rr", persistent=300, destinations=[Destination("fd00:10::11", 80, "masq")]),
])


def test_it_reads_every_entry_with_its_expiry_in_seconds():
    entries = parse_connections(LAB_OUTPUT)
    assert len(entries) == 9
    long_template = entries[3]
    assert long_template.expires == 239 * 60 + 58
    assert long_template.is_template and not long_template.is_invalidated
    assert entries[6].client == ("fd00:20::2", 33990) and entries[6].destination == ("fd00:10::11", 80)


def test_it_tells_templates_by_their_client_port_and_an_emptied_one_by_its_ports():
    entries = parse_connections(LAB_OUTPUT)
    assert [e.is_template for e in entries] == [False, False, False, True, True, True, False, True, False]
    assert [e.is_invalidated for e in entries].count(True) == 1
    assert entries[5].is_invalidated


def test_it_counts_established_connections_and_live_templates_per_destination():
    counts = count_per_destination(parse_connections(LAB_OUTPUT), TABLE)
    assert counts == {
        DestRef(WEB, "10.10.0.11", 80): DrainCount(connections=0, templates=1),
        DestRef(LONG, "10.10.0.13", 80): DrainCount(connections=1, templates=1),
        DestRef(V6, "fd00:10::11", 80): DrainCount(connections=0, templates=1),
    }
    # rs2's only template was emptied by the kernel: nothing ties a client to it any more.
    assert DestRef(WEB, "10.10.0.12", 80) not in counts


def test_udp_entries_count_as_connections():
    dns = ServiceKey("udp", "10.20.0.102", 53)
    table = Table([Service(dns, "rr", destinations=[Destination("10.10.0.11", 53, "masq")])])
    text = "UDP 04:59  UDP         10.20.0.2:41000    10.20.0.102:53     10.10.0.11:53\n"
    assert count_per_destination(parse_connections(text), table) == {
        DestRef(dns, "10.10.0.11", 53): DrainCount(connections=1)}


def test_fwmark_templates_and_connections_find_their_service():
    # The kernel's form (not seen in the lab, whose guest cannot mark packets): protocol IP,
    # the mark as the template's virtual address.
    mark = ServiceKey.for_fwmark(7)
    table = Table([Service(mark, "rr", persistent=120, destinations=[Destination("10.10.0.12", 0, "masq")])])
    text = ("IP  01:59  NONE        10.20.0.2:0        0.0.0.7:0          10.10.0.12:0\n"
            "TCP 14:59  ESTABLISHED 10.20.0.2:40000    10.20.0.100:443    10.10.0.12:443\n")
    assert count_per_destination(parse_connections(text), table) == {
        DestRef(mark, "10.10.0.12", 0): DrainCount(connections=1, templates=1)}


def test_entries_of_services_not_in_the_table_are_left_out():
    assert count_per_destination(parse_connections(LAB_OUTPUT), Table()) == {}


def test_an_empty_listing_has_no_entries():
    assert parse_connections("IPVS connection entries\npro expire state       source             virtual            destination\n") == []


@pytest.mark.parametrize("line", ["TCP 01:58 TIME_WAIT 10.20.0.2:53004 10.20.0.101:80",
                                  "TCP 0158 TIME_WAIT 10.20.0.2:53004 10.20.0.101:80 10.10.0.13:80",
                                  "TCP 01:58 TIME_WAIT 10.20.0.2 10.20.0.101:80 10.10.0.13:80"])
def test_it_refuses_what_is_not_a_connection_entry(line):
    with pytest.raises(ParseError):
        parse_connections(line)
