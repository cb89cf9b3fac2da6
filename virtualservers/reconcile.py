"""Make a director's kernel table equal the desired one, and say what happened.

One reconcile: read the live table (`ipvsadm -S -n`), compute the desired
table, plan the minimal commands, run them as one `ipvsadm -R` batch, read
the table again to verify, and record an ApplyRun. Runs are coalesced per
director through Redis (tasks.queue_reconcile): at most one running and one pending.

A change costs what the change is, not what the table is: when the director's last
run verified its table (the applied-table baseline) and is in sync, a change reads only
the services it touches (`ipvsadm -L -n --exact -t|-u|-f ...`, all in one round trip),
plans from the baseline when they match it, and verifies by reading those services
back. Anything unexpected (a touched service that differs from the baseline, more
than TARGETED_MAX_SERVICES touched, a drain in progress, the sweep, a drift or a director
seen again) takes the full read and plan. Drift elsewhere is the live poll's and the
sweep's to find: both read the whole table.

The same run builds the desired table of only the virtual servers the change touched
(desired.desired_table_touched), when every request it answers said which ones: they
collect in a Redis set per director beside the pending mark (queue_reconcile adds,
take_pending empties it as the run starts). A request that did not say, a missing set, an
interrupted run before, or anything the targeted read would not do builds the whole table.

Drift is a live table that differs from the table this process last
verified, with no change of ours in between: someone (or something) changed
the kernel. It is recorded in the audit log, then repaired or only reported
as the director's drift policy says.
"""
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from lbadmin import audit, signals
from lbadmin.models import ClusterSettings, Director
from lbadmin.redis_client import get_redis

from . import ipvs
from .ipvs import scripts as ipvs_scripts
from .desired import LiveConnections, desired_table, desired_table_touched, desired_timeouts
from .models import ApplyRun, RealServer
from .vrrp_config import converge_keepalived, desired_keepalived, diff_lines

log = logging.getLogger(__name__)

PENDING_KEY = "lbadmin:reconcile:pending:{}"
# The ids of the virtual servers the pending reconcile's requests touched; EVERYTHING in it
# when one of them may have changed anything.
TOUCHED_KEY = "lbadmin:reconcile:touched:{}"
EVERYTHING = "*"
# reconcile_director(touched=FROM_QUEUE): what the queued requests touched (the task's case).
FROM_QUEUE = object()
RUNNING_LOCK = "lbadmin:reconcile:lock:{}"
# A director that cannot be reached (rather than one that refused a command).
UNREACHABLE = (ipvs.SSHRefused, ipvs.CommandTimeout, ipvs.SSHAuthFailed, ipvs.HostKeyMismatch)
LOCK_TIMEOUT = 900  # seconds: longer than any apply, so a crashed worker frees it eventually
# Runs that look for drift: the sweep, and the live poll that saw the kernel change.
DRIFT_TRIGGERS = ("sweep", "drift")
# Runs that read the director's keepalived.conf back even when lbadmin's copy says it is
# current: the sweep (someone may have edited the file) and a director seen again.
KEEPALIVED_VERIFY_TRIGGERS = ("sweep", "director reachable again")
# Triggers that always read the whole table: the ones that look for drift or verify files.
FULL_READ_TRIGGERS = (*DRIFT_TRIGGERS, *KEEPALIVED_VERIFY_TRIGGERS)
# A change touching more services than this is a bulk change: one full read (a few
# listings of one service each are cheaper than `-S -n` of a big table; hundreds are not).
TARGETED_MAX_SERVICES = 50
SYSCTL_LINE_RE = re.compile(r"^net\.ipv4\.vs\.(\w+) = (\d+)$", re.MULTILINE)
TIMEOUTS_RE = re.compile(r"Timeout \(tcp tcpfin udp\):\s*(\d+)\s+(\d+)\s+(\d+)")

_executors: dict[int, tuple[tuple, ipvs.Executor]] = {}
# The last applied table this process parsed per director: (text, Table).
_baselines: dict[int, tuple[str, ipvs.Table]] = {}
# The rendered lines of that table's services per director: a run renders what it changed
# (9,000 lines take about 15 ms to render, on every run otherwise).
_rendered: dict[int, dict[ipvs.Service, list[str]]] = {}
# The IPVS sysctls this process last set per director: set again when they change, when
# the director comes back (a reboot resets them) and at every sweep.
_sysctls_set: dict[int, dict[str, str]] = {}


def executor_for(director: Director) -> ipvs.Executor:
    """One executor per director and process, so an SSH connection is reused."""
    ipvsadm_path = ClusterSettings.load().ipvsadm_path
    config = (director.transport, director.address, director.ssh_port, director.ssh_user,
              director.ssh_key_path, director.host_key, ipvsadm_path)
    cached = _executors.get(director.pk)
    if cached and cached[0] == config:
        return cached[1]
    if cached:
        cached[1].close()
    if director.transport == Director.Transport.LOCAL:
        executor = ipvs.LocalExecutor(ipvsadm=ipvsadm_path)
    else:
        executor = ipvs.SSHExecutor(director.address, port=director.ssh_port, user=director.ssh_user,
                                    key_path=director.ssh_key_path, host_key=director.host_key,
                                    ipvsadm=ipvsadm_path)
    _executors[director.pk] = (config, executor)
    return executor


def forget_executor(director_id: int) -> None:
    _sysctls_set.pop(director_id, None)
    cached = _executors.pop(director_id, None)
    if cached:
        cached[1].close()


def forget_executors() -> None:
    """Forget every director this process talked to (its connection and what it set there):
    for when the machines behind the directors were replaced or reset all at once."""
    for director_id in list(_executors.keys() | _sysctls_set.keys()):
        forget_executor(director_id)


# One run --------------------------------------------------------------------

@dataclass
class Outcome:
    run: ApplyRun
    commands: list[ipvs.Command] = field(default_factory=list)


def _stage(run: ApplyRun, stage: str) -> None:
    run.stage = stage
    run.save(update_fields=["stage"])


def _live_connections(executor: ipvs.Executor) -> LiveConnections:
    """Connections a drain waits for: established ones for TCP and SCTP (a
    closed connection lingers as InActConn in TIME_WAIT for minutes without
    carrying traffic), every entry for UDP, which has no established state."""
    report = ipvs.parse_list(executor.list_text("list"))
    return LiveConnections({
        (ref.service, ref.address, ref.port): c.active + (c.inactive if ref.service.kind == "udp" else 0)
        for ref, c in report.connections.items()})


def _timeout_command(executor: ipvs.Executor) -> ipvs.Command | None:
    wanted = desired_timeouts()
    if not any(wanted):
        return None
    match = TIMEOUTS_RE.search(executor.run(["ipvsadm", "-L", "--timeout"]).stdout)
    live = tuple(int(x) for x in match.groups()) if match else (0, 0, 0)
    if all(w == 0 or w == l for w, l in zip(wanted, live)):
        return None
    return ipvs.set_timeouts(*wanted)


def ensure_sysctls(director: Director, executor: ipvs.Executor, trigger: str) -> str:
    """Set the IPVS sysctls GLOBAL SETTINGS asks for (expire_quiescent_template,
    expire_nodest_conn) and check them read back; "" when nothing was run."""
    wanted = ClusterSettings.load().ipvs_sysctls()
    if not wanted or (_sysctls_set.get(director.pk) == wanted and trigger not in KEEPALIVED_VERIFY_TRIGGERS):
        return ""
    args = [item for name, value in sorted(wanted.items()) for item in (name, value)]
    output = executor.run_script(ipvs_scripts.SET_IPVS_SYSCTLS, args).stdout
    seen = dict(SYSCTL_LINE_RE.findall(output))
    wrong = [f"net.ipv4.vs.{name} is {seen.get(name, 'unreadable')}, not {value}"
             for name, value in wanted.items() if seen.get(name) != value]
    if wrong:
        raise ipvs.IpvsError("the director kept its IPVS settings: " + "; ".join(wrong))
    _sysctls_set[director.pk] = wanted
    return output.strip()


def note_touched(redis, director_id: int, touched: Iterable[int] | None) -> None:
    """Add a request's touched virtual servers (None: everything) to the director's set."""
    members = [EVERYTHING] if touched is None else [str(int(pk)) for pk in touched]
    if members:
        key = TOUCHED_KEY.format(director_id)
        redis.pipeline(transaction=True).sadd(key, *members).expire(key, LOCK_TIMEOUT).execute()


def take_pending(redis, director_id: int) -> set[int] | None:
    """Clear the pending mark and take the touched set, at once: a request noted before
    this is answered by this run, one after it queues a new run. None: build everything
    (a request that did not say, or no set at all: expired, or a run queued otherwise)."""
    pipe = redis.pipeline(transaction=True)
    pipe.delete(PENDING_KEY.format(director_id)).smembers(TOUCHED_KEY.format(director_id))
    members = pipe.delete(TOUCHED_KEY.format(director_id)).execute()[1]
    members = {m.decode() if isinstance(m, bytes) else m for m in members}
    if not members or EVERYTHING in members:
        return None
    return {int(m) for m in members}


def reconcile_director(director_id: int, trigger: str = "change", request_id: str = "",
                       dry_run: bool = False, touched: Iterable[int] | None | object = None) -> Outcome:
    """Converge one director. With dry_run, plan and record nothing. `touched`: the ids of
    the only virtual servers changed since the last run (None: anything may have;
    FROM_QUEUE: what the queued requests say)."""
    redis = get_redis()
    if not dry_run:
        # From here on a new change queues a new run: this one may have read old data.
        queued = take_pending(redis, director_id)
        if touched is FROM_QUEUE:
            touched = queued
    if touched is FROM_QUEUE:
        touched = None
    director = Director.objects.get(pk=director_id)
    lock = redis.lock(RUNNING_LOCK.format(director_id), timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT)
    if not dry_run:
        if not lock.acquire():
            note_touched(redis, director_id, None)  # what this run was to apply: the next run builds it all
            raise RuntimeError(f"could not take the reconcile lock of {director}")
        # The run before may have ended while this one waited: its applied table and status.
        director.refresh_from_db()
    run = ApplyRun(director=director, trigger=trigger, request_id=request_id, result=ApplyRun.Result.RUNNING, stage="reading the live table")
    if not dry_run:
        if _close_interrupted_runs(director):
            touched = None  # what the interrupted run was to apply is not in any touched set
        run.save()
    started = time.perf_counter()
    outcome = Outcome(run)
    try:
        executor = executor_for(director)
        draining = RealServer.objects.filter(admin_state=RealServer.AdminState.DRAINING,
                                             virtual_server__active=True).exists()
        connections = _live_connections(executor) if draining else None
        baseline = _parsed_baseline(director)
        targeted = not dry_run and not draining and _may_target(director, trigger, baseline)
        desired = None
        if targeted and touched is not None and len(set(touched)) <= TARGETED_MAX_SERVICES:
            desired = desired_table_touched(director, baseline, touched)
        if desired is None:
            desired = desired_table(director, connections)
        read = _targeted_read(executor, baseline, desired) if targeted else None
        live = baseline if read is not None else ipvs.parse_save(executor.save())
        target = desired
        if director.drift_policy == Director.DriftPolicy.REPORT:
            target = leave_drift_alone(live, baseline, desired)
        commands = ipvs.plan(live, target)
        timeouts = _timeout_command(executor)
        if timeouts:
            commands.append(timeouts)
        outcome.commands = commands
        run.plan = "\n".join(c.line for c in commands)
        if dry_run:
            wanted = desired_keepalived(director)
            if wanted is not None and wanted != director.vrrp_applied:
                run.plan = "\n".join([run.plan, *diff_lines(director.vrrp_applied, wanted, director)]).strip()
            return outcome
        ensure_sysctls(director, executor, trigger)  # before a drain's weight 0 reaches the kernel
        drift = _is_drift(baseline, trigger, live, desired)
        run.drift = drift
        if drift:
            _record_drift(director, live, desired, ipvs.plan(live, desired))
        if commands:
            _stage(run, f"applying {len(commands)} command(s)")
            try:
                result = executor.restore([c.line for c in commands])
            except ipvs.IpvsError:
                run.output = _kernel_now(executor)
                raise
            run.output = (result.stdout + result.stderr).strip() if result else ""
            _stage(run, "verifying")
            if read is not None:
                seen, target_read = executor.read_services(read), _only(target, read)
            else:
                seen, target_read = ipvs.parse_save(executor.save()), target
            if seen != target_read:
                left = ipvs.plan(seen, target_read)
                run.output = _kernel_now(executor)
                raise ipvs.IpvsError("the table read back differs from the desired one: still to do: "
                                     + "; ".join(c.line for c in left[:5]))
            run.result = ApplyRun.Result.OK
        else:
            run.result = ApplyRun.Result.NOOP
        director.applied_table = ipvs.render(target, _rendered.setdefault(director.pk, {}))
        Director.objects.filter(pk=director.pk).update(applied_table=director.applied_table)
        _baselines[director.pk] = (director.applied_table, target)  # parse(render(t)) == t
        _stage(run, "keepalived (VIPs)")
        keepalived = converge_keepalived(director, executor, verify_remote=trigger in KEEPALIVED_VERIFY_TRIGGERS)
        if keepalived and keepalived.changed:
            run.plan = "\n".join([run.plan, *keepalived.diff]).strip()
            run.output = "\n".join([run.output, f"keepalived: {keepalived.output}"]).strip()
            run.result = ApplyRun.Result.OK
        if target != desired:
            left = len(ipvs.plan(target, desired))
            run.output = "\n".join([run.output, f"drift reported, not repaired (director's drift policy): "
                                                f"{left} difference(s) left as found"]).strip()
            director.set_status(Director.Status.DEGRADED, f"drift: {left} difference(s) left as found")
        else:
            director.set_status(Director.Status.OK, "")
    except ipvs.IpvsError as exc:
        run.result = ApplyRun.Result.ERROR
        run.error = str(exc)
        unreachable = isinstance(exc, UNREACHABLE)
        if not dry_run:  # a preview records nothing, not even a failure (it is a GET of the API)
            director.set_status(Director.Status.UNREACHABLE if unreachable else Director.Status.DEGRADED, str(exc))
        if unreachable:
            forget_executor(director.pk)
        raise
    except Exception as exc:
        # Anything else (a bug, a host key paramiko cannot load, a number out of range) ends
        # as a failed run and a degraded director with the reason, never as "running" forever.
        log.exception("reconcile of %s failed", director)
        run.result = ApplyRun.Result.ERROR
        run.error = f"internal error ({type(exc).__name__}): {exc}"
        if not dry_run:
            director.set_status(Director.Status.DEGRADED, run.error[:500])
        forget_executor(director.pk)
        raise
    finally:
        if not dry_run:
            run.stage = ""
            run.finished_at = timezone.now()
            run.duration_ms = 1000 * (time.perf_counter() - started)
            with transaction.atomic():
                run.save()
                if run.result == ApplyRun.Result.ERROR:
                    signals.apply_failed.send(ApplyRun, run=run)
            log.info("apply %s on %s (%s%s): %s in %.0f ms%s", run.pk, director, trigger,
                     f", request {request_id}" if request_id else "", run.get_result_display(), run.duration_ms,
                     f": {run.error}" if run.error else f", {len(outcome.commands)} command(s)")
            if lock.owned():
                lock.release()
    return outcome


def _parsed_baseline(director: Director) -> ipvs.Table | None:
    """The director's applied table, parsed once per text and process (a 9,000-line table
    takes about 0.1 s to parse, on every run otherwise)."""
    text = director.applied_table
    if not text:
        return None
    cached = _baselines.get(director.pk)
    if cached is None or cached[0] != text:
        cached = _baselines[director.pk] = (text, ipvs.parse_save(text))
    return cached[1]


def _may_target(director: Director, trigger: str, baseline: ipvs.Table | None) -> bool:
    """May this run read only what it changes? Only from a baseline its director verified
    and is still in sync with (a failed or reported-drift run leaves it degraded)."""
    return (baseline is not None and trigger not in FULL_READ_TRIGGERS
            and director.status == Director.Status.OK)


def touched_services(baseline: ipvs.Table, desired: ipvs.Table) -> set[ipvs.ServiceKey]:
    """The services a change adds, removes or alters."""
    return {key for key in {*baseline.keys(), *desired.keys()} if baseline.get(key) != desired.get(key)}


def _only(table: ipvs.Table, keys) -> ipvs.Table:
    return ipvs.Table(table[key] for key in keys if key in table)


def _targeted_read(executor: ipvs.Executor, baseline: ipvs.Table, desired: ipvs.Table):
    """The touched services, when the kernel holds them as the baseline says (then the
    baseline stands for the live table); None when the run must read everything: a bulk
    change, or a kernel that differs from the baseline where the change lands."""
    touched = touched_services(baseline, desired)
    if len(touched) > TARGETED_MAX_SERVICES:
        return None
    if not touched:
        return touched
    if executor.read_services(touched) != _only(baseline, touched):
        log.info("the kernel differs from the last verified table where the change lands: full read")
        return None
    return touched


def _is_drift(baseline: ipvs.Table | None, trigger: str, live: ipvs.Table, desired: ipvs.Table) -> bool:
    if trigger not in DRIFT_TRIGGERS or live == desired:
        return False
    # Nothing verified yet by this installation: a difference is first setup, not drift.
    return baseline is not None and baseline != live


def leave_drift_alone(live: ipvs.Table, baseline: ipvs.Table | None, desired: ipvs.Table) -> ipvs.Table:
    """What a "report only" director is changed to: the desired table, except the services
    someone else touched. A service in the kernel that lbadmin never applied and does not
    want is foreign: kept. A service that differs from what lbadmin last applied was changed
    by hand: kept as found (or left absent, if it was removed). Everything else follows
    the configuration, so the operator's own changes still reach the kernel."""
    known = baseline if baseline is not None else ipvs.Table()
    services = {key: service for key, service in desired.items()}
    for key, service in live.items():
        foreign = key not in known and key not in desired
        changed_by_hand = key in known and known.get(key) != service
        if foreign or changed_by_hand:
            services[key] = service
    for key in known.keys():
        if key not in live:  # removed by hand: not put back
            services.pop(key, None)
    return ipvs.Table(services.values())


def _kernel_now(executor: ipvs.Executor) -> str:
    """What the kernel holds after a failed apply, for the run's output (the live table
    shows it too within one poll)."""
    try:
        return "the kernel now holds:\n" + (executor.save().strip() or "(an empty table)")
    except Exception as exc:  # the director went away meanwhile: say so, keep the first error
        return f"the table could not be read back: {exc}"


def _close_interrupted_runs(director: Director) -> int:
    """Runs still "running" when a new one holds the lock were cut off (a worker killed
    mid-apply): close them as failed with the reason; this run converges from the kernel.
    Returns how many."""
    return ApplyRun.objects.filter(director=director, result=ApplyRun.Result.RUNNING).update(
        result=ApplyRun.Result.ERROR, stage="", finished_at=timezone.now(),
        error="interrupted: the process running this apply stopped before it ended (worker killed or "
              "restarted); the next reconcile converged from the kernel as it was")


def _record_drift(director: Director, live: ipvs.Table, desired: ipvs.Table, commands) -> None:
    with transaction.atomic():
        audit.record("drift", director, actor="reconciler", object_type="Director",
                     # one key, so the entry shows the repair as lines removed and added
                     before={"table": ipvs.render(live).splitlines()},
                     after={"table": ipvs.render(desired).splitlines()},
                     message=f"live table differs from the last applied one; repair: {'; '.join(c.line for c in commands[:20])}")
        signals.drift_found.send(Director, director=director,
                                 summary=f"{len(commands)} difference(s): " + "; ".join(c.line for c in commands[:5]))
