"""lbadmin's health checks: pure asyncio, no Django.

    result = await run_check(CheckSpec("tcp", host="10.0.0.5", port=443, timeout=2))
    results = await run_batch(specs)
    scheduler = Scheduler(callback); scheduler.set_targets([...]); await scheduler.run()

Modules: spec (CheckSpec, CheckResult), runner (run_check), one module per check type
(tcp_check, udp_check, http_check, program_check, dns_check, icmp_check), net (sockets),
matching and reasons (helpers), engine (run_batch, Scheduler: identical checks share one
probe) with connect_prober (the Scheduler's fast path for plain TCP and plain HTTP
checks), state (rise/fall, slow start), cli (probe_main).
"""

from .engine import Scheduler, SchedulerStats, Target, run_batch
from .matching import decode_escapes, parse_status_codes
from .program_check import build_argv
from .runner import run_check
from .spec import CHECK_TYPES, CheckResult, CheckSpec, spec_from_fields
from .state import HealthState, Transition, slow_start_weight

__all__ = [
    "CHECK_TYPES",
    "CheckResult",
    "CheckSpec",
    "HealthState",
    "Scheduler",
    "SchedulerStats",
    "Target",
    "Transition",
    "build_argv",
    "decode_escapes",
    "parse_status_codes",
    "run_batch",
    "run_check",
    "slow_start_weight",
    "spec_from_fields",
]
