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
    }
