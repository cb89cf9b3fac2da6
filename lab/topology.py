"""The lab's addresses: one place that the guest's boot script and the tests both read.

Every address lives inside the guest (the director's own interfaces and network
namespaces it creates), so no lab traffic ever leaves the VM. The build writes these
values into the guest (/etc/lab/*.conf for the shell scripts, /etc/lab/**/*.ip as
`ip -batch` input for the boot script), and the tests import this module, so the two
cannot drift apart.

    client ns (10.20.0.2) --veth-- director (10.20.0.1, VIP pool) --br-rs (10.10.0.1)-- rs1/rs2/rs3

The director routes between the two subnets, so NAT (-m) works: real servers' default
route is the director. Direct routing (-g) and tunnelling (-i) work too: every real server
holds the whole VIP pool on lo (tunl0 is up for -i) with arp_ignore=1 / arp_announce=2.

The director pair (VRRP failover) is a second, separate network in the same guest: two more
directors dirA and dirB, two real servers and a client, all on one layer-2 segment
(br-pair), IPv4 only. No pair address is local on the root namespace, so nothing there
interferes with the VRRP election:

    dirA (10.30.0.2)  dirB (10.30.0.3)  prs1 (10.30.0.11)  prs2 (10.30.0.12)  pclient (10.30.0.50)
      |                 |                 |                  |                  |
    ==+=================+=================+==================+==================+== br-pair

The pair's VIPs (PAIR_VIP_POOL_V4) are local on the real servers' lo (direct routing) and
raised on a director only by its keepalived, so the client reaches whichever holds them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RealServer:
    name: str  # also the network namespace's name and the body its httpd answers with
    ipv4: str
    ipv6: str


DIRECTOR_RS_SIDE_V4 = "10.10.0.1"
DIRECTOR_RS_SIDE_V6 = "fd00:10::1"
DIRECTOR_CLIENT_SIDE_V4 = "10.20.0.1"
DIRECTOR_CLIENT_SIDE_V6 = "fd00:20::1"

CLIENT_NAMESPACE = "client"
CLIENT_V4 = "10.20.0.2"
CLIENT_V6 = "fd00:20::2"

REAL_SERVERS: dict[str, RealServer] = {
    rs.name: rs
    for rs in (
        RealServer("rs1", "10.10.0.11", "fd00:10::11"),
        RealServer("rs2", "10.10.0.12", "fd00:10::12"),
        RealServer("rs3", "10.10.0.13", "fd00:10::13"),
    )
}

# Addresses already local on the director (on its client-facing interface) and on every
# real server's lo, so a test can use any of them as a VIP in NAT, DR or tunnel mode.
VIP_POOL_V4: tuple[str, ...] = tuple(f"10.20.0.{n}" for n in range(100, 110))
VIP_POOL_V6: tuple[str, ...] = tuple(f"fd00:20::{n}" for n in range(100, 110))

HTTP_PORT = 80

# Health checks from the host. The checker runs on the host, but the real servers live in
# namespaces inside the guest, reachable only from there; the host's routing is not
# touched. Instead each real server gets a forwarder in the guest's root namespace,
# listening on its guest port here and relaying each connection to the real server's
# port 80, and LabVM forwards a loopback port on the host to that guest port (QEMU
# hostfwd). A forwarder accepts before it knows whether the real server answers, so only
# an application check (HTTP) through it tells up from down; a TCP connect would always
# succeed.
CHECK_FORWARD_PORTS: dict[str, int] = {name: 8000 + index for index, name in enumerate(REAL_SERVERS, start=11)}


# -- the director pair (VRRP failover) -------------------------------------------------------


@dataclass(frozen=True)
class PairHost:
    name: str  # its network namespace's name (and a real server's httpd body)
    ipv4: str  # its address on the pair segment, on its eth0


@dataclass(frozen=True)
class PairDirector(PairHost):
    # The guest port (root namespace) relayed to this director's own sshd; LabVM forwards a
    # loopback port on the host to it (QEMU hostfwd).
    guest_ssh_port: int


PAIR_BRIDGE = "br-pair"
PAIR_PREFIX_LEN = 24
PAIR_INTERFACE = "eth0"  # each pair namespace's one interface on the segment
PAIR_DIRECTORS: dict[str, PairDirector] = {
    d.name: d for d in (PairDirector("dirA", "10.30.0.2", 2202), PairDirector("dirB", "10.30.0.3", 2203))
}
PAIR_REAL_SERVERS: dict[str, PairHost] = {
    rs.name: rs for rs in (PairHost("prs1", "10.30.0.11"), PairHost("prs2", "10.30.0.12"))
}
PAIR_CLIENT = PairHost("pclient", "10.30.0.50")
# Raised by keepalived on the director that is MASTER; always local on the real servers' lo.
PAIR_VIP_POOL_V4: tuple[str, ...] = tuple(f"10.30.0.{n}" for n in range(100, 110))
# Each pair real server answers HTTP on HTTP_PORT with its name, and echoes every byte on
# ECHO_PORT: a long-lived connection through a VIP shows whether it survives a failover.
ECHO_PORT = 7
# Where each director's own files live in the shared guest filesystem. A director's sshd
# runs in a mount namespace of its own where PAIR_CONFIG_ROOT/NAME/keepalived is mounted
# on /etc/keepalived and /run, /tmp are its own: over its SSH, lbadmin sees a director
# like a real one (/etc/keepalived/keepalived.conf, /run/keepalived.pid).
PAIR_CONFIG_ROOT = "/etc/lab/dirs"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"


def pair_conf() -> str:
    """/etc/lab/pair.conf: one 'role name ipv4 [guest-ssh-port]' line per pair namespace."""
    lines = [f"director {d.name} {d.ipv4} {d.guest_ssh_port}\n" for d in PAIR_DIRECTORS.values()]
    lines += [f"rs {rs.name} {rs.ipv4}\n" for rs in PAIR_REAL_SERVERS.values()]
    lines.append(f"client {PAIR_CLIENT.name} {PAIR_CLIENT.ipv4}\n")
    return "".join(lines)


def pair_batch() -> str:
    """`ip -batch` input (root namespace): the segment and one veth into it per namespace.

    The root namespace's end of each veth is named after the namespace (veth-dirA ...):
    taking it down takes that namespace off the segment (lab-director kill).
    """
    hosts = [*PAIR_DIRECTORS.values(), *PAIR_REAL_SERVERS.values(), PAIR_CLIENT]
    lines = [f"netns add {host.name}\n" for host in hosts]
    # No snooping: the IPVS sync daemon's group (224.0.0.81) is not link-local, and with
    # snooping on, the bridge would forward it only after seeing an IGMP report.
    lines.append(f"link add {PAIR_BRIDGE} type bridge mcast_snooping 0\n")
    lines.append(f"link set {PAIR_BRIDGE} up\n")
    for host in hosts:
        lines += [
            f"link add veth-{host.name} type veth peer name {PAIR_INTERFACE} netns {host.name}\n",
            f"link set veth-{host.name} master {PAIR_BRIDGE} up\n",
        ]
    return "".join(lines)


def pair_host_batch(host: PairHost) -> str:
    """`ip -n NAME -batch` input: a pair namespace's own address; real servers add the VIPs.

    Also what lab-director runs again when a killed director boots (revive).
    """
    lines = [
        "link set lo up\n",
        f"address add {host.ipv4}/{PAIR_PREFIX_LEN} dev {PAIR_INTERFACE}\n",
        f"link set {PAIR_INTERFACE} up\n",
    ]
    if host.name in PAIR_REAL_SERVERS:
        lines += [_address_line(vip, "lo") for vip in PAIR_VIP_POOL_V4]
    return "".join(lines)


def real_servers_conf() -> str:
    """/etc/lab/real-servers.conf: one 'name ipv4 ipv6' line per real server."""
    return "".join(f"{rs.name} {rs.ipv4} {rs.ipv6}\n" for rs in REAL_SERVERS.values())


def check_forwards_conf() -> str:
    """/etc/lab/check-forwards.conf: one 'name ipv4 guest-port' line per real server."""
    return "".join(f"{rs.name} {rs.ipv4} {CHECK_FORWARD_PORTS[rs.name]}\n" for rs in REAL_SERVERS.values())


def vips_conf() -> str:
    """/etc/lab/vips.conf: one address per line, IPv4 first."""
    return "".join(f"{address}\n" for address in VIP_POOL_V4 + VIP_POOL_V6)


def network_conf() -> str:
    """/etc/lab/network.conf: shell variables sourced by the guest's boot script."""
    values = {
        "DIRECTOR_RS_SIDE_V4": DIRECTOR_RS_SIDE_V4,
        "DIRECTOR_RS_SIDE_V6": DIRECTOR_RS_SIDE_V6,
        "DIRECTOR_CLIENT_SIDE_V4": DIRECTOR_CLIENT_SIDE_V4,
        "DIRECTOR_CLIENT_SIDE_V6": DIRECTOR_CLIENT_SIDE_V6,
        "CLIENT_NAMESPACE": CLIENT_NAMESPACE,
        "CLIENT_V4": CLIENT_V4,
        "CLIENT_V6": CLIENT_V6,
        "HTTP_PORT": str(HTTP_PORT),
        "ECHO_PORT": str(ECHO_PORT),
    }
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _address_line(address: str, device: str) -> str:
    if ":" in address:
        return f"address add {address}/128 dev {device} nodad\n"
    return f"address add {address}/32 dev {device}\n"


def director_batch() -> str:
    """`ip -batch` input that builds the director's side of the lab (root namespace).

    One ip process for everything: under TCG each ip process costs about 0.15 s, and the
    lab needs a hundred or so commands.
    """
    namespaces = [CLIENT_NAMESPACE, *REAL_SERVERS]
    lines = [f"netns add {name}\n" for name in namespaces]
    lines += [
        "link add br-rs type bridge\n",
        f"address add {DIRECTOR_RS_SIDE_V4}/24 dev br-rs\n",
        f"address add {DIRECTOR_RS_SIDE_V6}/64 dev br-rs nodad\n",
        "link set br-rs up\n",
        f"link add veth-client type veth peer name eth0 netns {CLIENT_NAMESPACE}\n",
        f"address add {DIRECTOR_CLIENT_SIDE_V4}/24 dev veth-client\n",
        f"address add {DIRECTOR_CLIENT_SIDE_V6}/64 dev veth-client nodad\n",
        "link set veth-client up\n",
    ]
    # The VIP pool sits on the client-facing interface: IPv6 neighbour discovery answers
    # only for addresses on the interface a question came in on.
    lines += [_address_line(vip, "veth-client") for vip in VIP_POOL_V4 + VIP_POOL_V6]
    for rs in REAL_SERVERS.values():
        lines += [
            f"link add veth-{rs.name} type veth peer name eth0 netns {rs.name}\n",
            f"link set veth-{rs.name} master br-rs up\n",
        ]
    return "".join(lines)


def client_batch() -> str:
    """`ip -n client -batch` input: the client on its own subnet, routed via the director."""
    return "".join([
        "link set lo up\n",
        f"address add {CLIENT_V4}/24 dev eth0\n",
        f"address add {CLIENT_V6}/64 dev eth0 nodad\n",
        "link set eth0 up\n",
        f"route add default via {DIRECTOR_CLIENT_SIDE_V4}\n",
        f"route add ::/0 via {DIRECTOR_CLIENT_SIDE_V6}\n",
    ])


def real_server_batch(rs: RealServer) -> str:
    """`ip -n RS -batch` input: a real server behind the director.

    The director is its default gateway (NAT needs that), and the whole VIP pool is local
    on its lo (direct routing and tunnelling need that; the boot script sets arp_ignore
    and arp_announce so that it never answers ARP for them). tunl0 up receives -i traffic.
    """
    lines = [
        "link set lo up\n",
        f"address add {rs.ipv4}/24 dev eth0\n",
        f"address add {rs.ipv6}/64 dev eth0 nodad\n",
        "link set eth0 up\n",
        f"route add default via {DIRECTOR_RS_SIDE_V4}\n",
        f"route add ::/0 via {DIRECTOR_RS_SIDE_V6}\n",
        "link set tunl0 up\n",
    ]
    lines += [_address_line(vip, "lo") for vip in VIP_POOL_V4 + VIP_POOL_V6]
    return "".join(lines)


def describe() -> dict[str, object]:
    """The lab's addresses as plain data, for `python -m lab up` to print."""
    return {
        "director": {"rs_side": [DIRECTOR_RS_SIDE_V4, DIRECTOR_RS_SIDE_V6],
                     "client_side": [DIRECTOR_CLIENT_SIDE_V4, DIRECTOR_CLIENT_SIDE_V6]},
        "client": {"namespace": CLIENT_NAMESPACE, "addresses": [CLIENT_V4, CLIENT_V6]},
        "real_servers": {rs.name: [rs.ipv4, rs.ipv6] for rs in REAL_SERVERS.values()},
        "vip_pool": list(VIP_POOL_V4 + VIP_POOL_V6),
        "http_port": HTTP_PORT,
        "check_forward_guest_ports": dict(CHECK_FORWARD_PORTS),
        "pair": {
            "segment": f"{PAIR_BRIDGE} 10.30.0.0/{PAIR_PREFIX_LEN}",
            "directors": {d.name: d.ipv4 for d in PAIR_DIRECTORS.values()},
            "real_servers": {rs.name: rs.ipv4 for rs in PAIR_REAL_SERVERS.values()},
            "client": {"namespace": PAIR_CLIENT.name, "address": PAIR_CLIENT.ipv4},
            "vip_pool": list(PAIR_VIP_POOL_V4),
            "ports": {"http": HTTP_PORT, "echo": ECHO_PORT},
            "keepalived_conf": KEEPALIVED_CONF,
        },
    }
