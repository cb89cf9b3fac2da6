"""The IPVS engine of lbadmin: pure Python, no Django.

Reconcile, in four calls::

    from virtualservers import ipvs

    live = ipvs.parse_save(executor.save())          # ipvsadm -S -n  -> Table
    commands = ipvs.plan(live, desired)              # minimal -D/-d, -E/-e, -A/-a
    executor.restore([c.line for c in commands])     # one ipvsadm -R batch
    assert ipvs.parse_save(executor.save()) == desired   # verify

The table (model.py)
    ServiceKey(kind, address, port, fwmark, family)   kind: tcp udp sctp fwmark
    Service(key, scheduler='wlc', persistent=None, netmask=None, pe=None, ops=False,
            sched_flags=(), destinations=[Destination, ...])
    Destination(address, port, forwarding='route', weight=1, u_threshold=0, l_threshold=0)
        forwarding: masq (-m), route (-g), tunnel (-i)
    Table([Service, ...])          a Mapping ServiceKey -> Service; == is kernel equality
    format_endpoint(address, port) "192.0.2.1:80", "[2001:db8::1]:80"

Text (render.py, parse.py)
    render(table) -> str            exactly `ipvsadm -S -n` (ipvsadm 1.31)
    render_restore(commands) -> str stdin for `ipvsadm -R`
    parse_save(text) -> Table
    parse_list(text) -> ListReport(table, connections={DestRef: Connections})
    parse_stats(text) / parse_rate(text) -> CounterReport(services={ServiceKey: Stats|Rates},
                                                          destinations={DestRef: Stats|Rates})
    DestRef = (service: ServiceKey, address, port);  ParseError carries .lineno
    parse_connections(text) -> [ConnectionEntry]     `ipvsadm -L -n -c` (connections.py)
    count_per_destination(entries, table) -> {DestRef: DrainCount(connections, templates)}

Changes (plan.py)
    plan(live, desired) -> [Command]    Command.line (for -R), .argv, .summary
    set_timeouts(tcp, tcpfin, udp) -> Command   (0 leaves a value unchanged)
    simulate(table, commands) -> Table  a simulator of ipvsadm + kernel, for tests

Running ipvsadm (executors.py)
    Executor protocol: run(argv, stdin=None) -> RunResult, save(), list_text(kind),
                       (kind: list, stats, rate, connections)
                       list_texts(kinds) -> {kind: text}   several listings, one round trip
                       read_services(keys) -> Table        `-L -n --exact -t|-u|-f ...` of
                                                           only these services, one round trip
                       restore(lines), close()
    LocalExecutor(ipvsadm='ipvsadm', timeout=30)
    SSHExecutor(host, port=22, user='root', key_path, host_key, timeout=30, ipvsadm='ipvsadm')
    fingerprint(key_or_line), scan_host_key(host, port) for pinning

Errors (errors.py): IpvsError > ParseError, IpvsadmMissing, NotRoot, NoKernelSupport,
    SSHRefused, HostKeyMismatch, SSHAuthFailed, CommandTimeout, CommandFailed,
    UnexpressibleTable (plan of a table ipvsadm cannot produce).

Limits worth knowing
    - `ipvsadm -S` does not print thresholds (-x/-y), so a parsed table has them at 0;
      a desired table with thresholds would be re-edited on every reconcile.
    - Only ipip tunnels are understood (GUE/GRE destinations raise ParseError).
    - ipvsadm -R reports a refused line and carries on; restore() treats any stderr
      output as failure, and reconcile verifies by reading the table back.
"""

from .addresses import format_endpoint, normalize_address
from .connections import ConnectionEntry, DrainCount, count_per_destination, parse_connections
from .errors import (
    CommandFailed, CommandTimeout, HostKeyMismatch, IpvsadmMissing, IpvsError,
    NoKernelSupport, NotRoot, ParseError, SSHAuthFailed, SSHRefused,
)
from .executors import (
    Executor, LocalExecutor, RunResult, SSHExecutor, fingerprint, scan_host_key,
)
from .model import DestKey, Destination, Service, ServiceKey, Table
from .parse import (
    Connections, CounterReport, DestRef, ListReport, Rates, Stats, parse_list, parse_rate,
    parse_save, parse_stats,
)
from .plan import Command, UnexpressibleTable, plan, set_timeouts, simulate
from .render import render, render_restore

__all__ = [
    "Command", "CommandFailed", "CommandTimeout", "ConnectionEntry", "Connections", "DrainCount", "CounterReport", "DestKey",
    "DestRef", "Destination", "Executor", "HostKeyMismatch", "IpvsError", "IpvsadmMissing",
    "ListReport", "LocalExecutor", "NoKernelSupport", "NotRoot", "ParseError", "Rates",
    "RunResult", "SSHAuthFailed", "SSHExecutor", "SSHRefused", "Service", "ServiceKey",
    "Stats", "Table", "UnexpressibleTable", "count_per_destination", "fingerprint", "format_endpoint",
    "normalize_address", "parse_connections", "parse_list", "parse_rate", "parse_save", "parse_stats", "plan",
    "render", "render_restore", "scan_host_key", "set_timeouts", "simulate",
]
