"""The management host is not a single point of failure for health checks: with two
workers (two machines in production, two processes here), killing the one that holds
the checker lease hands the checks to the other within three check intervals."""
import os
import signal
import time


from tests.health_servers import listener
from tests.processes import celery_process, isolated_worker_stack, manage, wait_for

INTERVAL = 3  # seconds between checks of one real server
SETUP = f"""
from virtualservers.models import HealthCheck, RealServer, VirtualServer
vs = VirtualServer.objects.create(name="web", address="192.0.2.91", port=80, active=True, forwarding="nat")
HealthCheck.objects.create(virtual_server=vs, check_type="tcp", interval={INTERVAL}, timeout=1, rise=1, fall=2)
RealServer.objects.create(virtual_server=vs, name="alive", address="127.0.0.1", port={{live}}, admin_state="enabled")
"""


def test_a_second_worker_takes_the_checks_over_when_the_first_is_killed(redis_url, tmp_path):
    url, redis, extra, env = isolated_worker_stack(redis_url, tmp_path, 5)
    with listener() as live:
        manage(env, "shell", "-c", SETUP.format(live=live))
        with celery_process("worker", url, tmp_path, node="a", **extra) as first, \
                celery_process("worker", url, tmp_path, node="b", **extra) as second, \
                celery_process("beat", url, tmp_path, "--schedule", str(tmp_path / "beat-schedule"), **extra):
            holder = wait_for(lambda: redis.get("lbadmin:health:lease"), 60, what="a checker to take the lease")
            wait_for(lambda: redis.get("lbadmin:health:last-result"), 30, what="a first result")
            pids = {first.pid: first, second.pid: second}
            holder_pid = int(holder.split(":")[1])
            victim = pids.get(holder_pid)
            assert victim is not None, f"lease {holder} is held by neither worker {sorted(pids)}"
            survivor = second if victim is first else first

            os.killpg(victim.pid, signal.SIGKILL)
            killed_at = time.time()
            new_holder = wait_for(lambda: (h := redis.get("lbadmin:health:lease")) and h != holder and h,
                                  3 * INTERVAL, interval=0.1, what="the other worker to take the lease")
            assert int(new_holder.split(":")[1]) == survivor.pid
            wait_for(lambda: float(redis.get("lbadmin:health:last-result") or 0) > killed_at,
                     3 * INTERVAL, interval=0.1, what="a check result from the new holder")
            assert survivor.poll() is None
    redis.flushdb()
