"""End to end through the product's own processes: Celery beat sends the health tick every
second, a real worker starts the checker, real sockets are checked, and the transitions
land in the database the worker shares (a migrated SQLite file, as in production)."""
import sqlite3
import time


from tests.health_servers import closed_port, listener
from tests.processes import celery_process, isolated_worker_stack, manage, wait_for

SETUP = """
from virtualservers.models import HealthCheck, RealServer, VirtualServer
vs = VirtualServer.objects.create(name="web", address="192.0.2.90", port=80, active=True, forwarding="nat")
HealthCheck.objects.create(virtual_server=vs, check_type="tcp", interval=1, timeout=1, rise=1, fall=2)
RealServer.objects.create(virtual_server=vs, name="alive", address="127.0.0.1", port={live}, admin_state="enabled")
RealServer.objects.create(virtual_server=vs, name="dead", address="127.0.0.1", port={dead}, admin_state="enabled")
"""


def test_beat_and_a_worker_run_the_checks_and_record_transitions(redis_url, tmp_path):
    url, redis, extra, env = isolated_worker_stack(redis_url, tmp_path, 4)
    db_file = tmp_path / "lbadmin.sqlite3"
    dead = closed_port()
    with listener() as live:
        manage(env, "shell", "-c", SETUP.format(live=live, dead=dead))

        def health_of(name):
            with sqlite3.connect(db_file, timeout=10) as db:
                return db.execute("SELECT health FROM virtualservers_realserver WHERE name = ?", (name,)).fetchone()[0]

        started = time.monotonic()
        with celery_process("worker", url, tmp_path, **extra), \
                celery_process("beat", url, tmp_path, "--schedule", str(tmp_path / "beat-schedule"), **extra):
            wait_for(lambda: health_of("dead") == "down", 60, what="the dead server to go down")
            wait_for(lambda: health_of("alive") == "up", 10, what="the live server to be seen up")
            holder = redis.get("lbadmin:health:lease")
            assert holder and holder.startswith(tuple("abcdefghijklmnopqrstuvwxyz0123456789"))
            stamp = float(redis.get("lbadmin:health:last-result"))
            assert time.time() - stamp < 3
        assert time.monotonic() - started < 60
    with sqlite3.connect(db_file) as db:
        events = db.execute("SELECT old_state, new_state, reason FROM monitoring_healthevent ORDER BY id").fetchall()
        audit = db.execute("SELECT username, message FROM lbadmin_auditentry WHERE action = 'health'").fetchall()
    assert ("unknown", "down", "2 failures in a row: connection refused") in events
    assert ("health checker", "2 failures in a row: connection refused") in audit
    redis.flushdb()
