"""End to end: "try it" of a program check posted to the web is run by a real Celery
worker (the program's parent is the worker's process, not the test's), as nobody; and a
"check now" whose program tries to erase the audit rows of the worker's own SQLite file
(0600 in a 0700 directory, as the data dir is set up) leaves them intact."""
import os
import sqlite3
import subprocess
import sys

import pytest
import redis as redis_lib
from django.conf import settings as django_settings
from django.urls import reverse

from lbadmin.celery import app
from lbadmin.redis_client import get_redis
from monitoring.manual_checks import MANUAL_KEY
from monitoring.tasks import manual_check
from tests import factories
from tests.check_programs import ProgramDir, program_dir  # noqa: F401  (fixture)
from tests.needs import as_root  # noqa: F401  (fixture)
from tests.processes import celery_env, celery_process, manage, wait_for
from tests.test_checks_program_containment import DELETE_AUDIT

pytestmark = pytest.mark.usefixtures("as_root")

SETUP = """
from lbadmin import audit
from virtualservers.models import HealthCheck, RealServer, VirtualServer
vs = VirtualServer.objects.create(name="web", address="192.0.2.90", port=80, forwarding="nat")
HealthCheck.objects.create(virtual_server=vs, check_type="program", send_program={command!r}, timeout=5)
rs = RealServer.objects.create(virtual_server=vs, name="rs1", address="127.0.0.1", port=8080)
for n in range(3):
    audit.record("create", rs, message=f"row {{n}}", actor="setup")
print(rs.pk)
"""


@pytest.fixture
def own_redis(redis_url, settings):
    """A Redis database of its own for the worker and this process, so no other test's
    queued tasks reach this worker."""
    url = redis_url.rsplit("/", 1)[0] + "/5"
    redis_lib.Redis.from_url(url).flushdb()
    settings.REDIS_URL = url
    old_broker = app.conf.broker_url
    _use_broker(url)
    yield url
    _use_broker(old_broker)


def _use_broker(url: str) -> None:
    app.conf.broker_url = url
    app._pool = None  # kombu keeps one pool per URL; the app picks the new URL's on next use
    app.amqp._producer_pool = None
    get_redis.cache_clear()


def line_of(token: str):
    return get_redis().hget(MANUAL_KEY.format(token), "line")


@pytest.mark.django_db
def test_try_it_runs_the_program_in_the_worker_as_nobody(client_for, admin_user, own_redis, program_dir: ProgramDir,
                                                         tmp_path, settings, django_capture_on_commit_callbacks):
    settings.LBADMIN_CHECK_PROGRAM_DIR = str(program_dir.path)
    marker = program_dir.scratch / "ran"
    script = program_dir.install("who", f"import os\nopen({str(marker)!r}, 'w').write(f'{{os.getppid()}} {{os.getuid()}}')\n"
                                        "print('OK')\n")
    vs = factories.virtual_server(name="web", address="192.0.2.80", port=80)
    rs = factories.real_server(vs, name="owa", address="127.0.0.1", port=443)
    form = {"check_type": "program", "send_program": f"{script} %h %p", "expect": "OK", "interval": 6, "timeout": 5,
            "rise": 2, "fall": 3, "initial_state": "up", "slow_start": 0, "http_method": "GET", "http_path": "/",
            "http_status": "200-399", "dns_type": "A", "real_server": rs.pk}
    client = client_for(admin_user)
    with celery_process("worker", own_redis, tmp_path, LBADMIN_CHECK_PROGRAM_DIR=str(program_dir.path)) as worker:
        with django_capture_on_commit_callbacks(execute=True):
            page = client.post(reverse("health_try", args=[vs.pk]), form, HTTP_HX_REQUEST="true").content.decode()
        token = page.split('id="manual-', 1)[1].split('"', 1)[0]
        poll = reverse("health_manual_result", args=[token])
        answer = wait_for(lambda: (lambda text: text if "hx-get" not in text else None)(
            client.get(poll, HTTP_HX_REQUEST="true").content.decode()), 30, what="the worker's line")
        assert "UP " in answer and "program printed" in answer
        parent, uid = map(int, marker.read_text().split())
        assert parent == worker.pid != os.getpid()
        assert uid == 65534


def test_check_now_in_the_worker_cannot_erase_the_audit_log(own_redis, program_dir: ProgramDir, tmp_path):
    data = tmp_path / "data"  # /tmp/pytest-of-root/... : 0700 above it, like the data dir
    data.mkdir(mode=0o700)
    db_file = data / "lbadmin.sqlite3"
    script = program_dir.install("erase_audit", DELETE_AUDIT)
    extra = {"DATABASE_URL": f"sqlite:///{db_file}", "LBADMIN_CHECK_PROGRAM_DIR": str(program_dir.path)}
    env = celery_env(own_redis, data, **extra)
    manage(env, "migrate", "--noinput")
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP.format(command=f"{script} {db_file}")],
                          cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rs_pk = int(done.stdout.strip().splitlines()[-1])
    db_file.chmod(0o600)

    def audit_rows():
        with sqlite3.connect(db_file, timeout=10) as db:
            return db.execute("SELECT count(*) FROM lbadmin_auditentry").fetchone()[0]

    before = audit_rows()
    assert before >= 3
    with celery_process("worker", own_redis, data, **extra):
        token = "erase-" + os.urandom(4).hex()
        get_redis().hset(MANUAL_KEY.format(token), mapping={"user": "admin", "deadline": "0"})
        manual_check.apply_async((token, "check now", rs_pk, None), expires=60)
        line = wait_for(lambda: line_of(token), 30, what="the worker's line")
    assert line.startswith("DOWN ") and "Permission denied" in line, line
    assert audit_rows() == before
