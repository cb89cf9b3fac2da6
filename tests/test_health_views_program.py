"""Try it and check now of a program check: audited with the exact argv, queued to the
worker, never run by the web process; the page polls for the line."""
import json
import time

import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry
from lbadmin.redis_client import get_redis
from monitoring.manual_checks import MANUAL_KEY, run_queued
from tests import factories
from tests.check_programs import ProgramDir, program_dir  # noqa: F401  (fixture)
from virtualservers.models import HealthCheck

pytestmark = pytest.mark.django_db


@pytest.fixture
def allowed(settings, program_dir):
    settings.LBADMIN_CHECK_PROGRAM_DIR = str(program_dir.path)
    return program_dir


@pytest.fixture
def vs():
    return factories.virtual_server(name="web", address="192.0.2.80", port=80, forwarding="nat", active=True,
                                    persistent=0, pmask="")


def marker_program(program_dir: ProgramDir):
    marker = program_dir.scratch / "ran"
    script = program_dir.install("marker", f"import os\nopen({str(marker)!r}, 'w').write(str(os.getppid()))\nprint('OK')\n")
    return script, marker


def try_form(script, rs, **extra):
    return {"check_type": "program", "send_program": f"{script} %h %p", "expect": "OK", "interval": 6, "timeout": 2,
            "rise": 2, "fall": 3, "initial_state": "up", "slow_start": 0, "http_method": "GET", "http_path": "/",
            "http_status": "200-399", "dns_type": "A", "real_server": rs.pk, **extra}


def test_try_it_audits_the_argv_and_queues_the_program_to_the_worker(
        client_for, admin_user, vs, allowed, django_capture_on_commit_callbacks):
    script, marker = marker_program(allowed)
    rs = factories.real_server(vs, name="owa", address="192.0.2.21", port=443)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client_for(admin_user).post(reverse("health_try", args=[vs.pk]), try_form(script, rs),
                                               HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and "running in the worker..." in page and "UP " not in page
    assert len(queued) == 1  # the task, sent once the audit entry commits
    entry = AuditEntry.objects.get(action="try check")
    assert (entry.username, entry.object_type, entry.object_id) == (admin_user.username, "RealServer", str(rs.pk))
    assert entry.message == "argv " + json.dumps([str(script), "192.0.2.21", "443"])
    time.sleep(0.5)
    assert not marker.exists()  # the web process never ran it


def start_try(client, vs, allowed, capture) -> tuple[object, object, object, str]:
    """TRY IT on the marker program, its task queued and not run: (program, its marker file,
    real server, token)."""
    script, marker = marker_program(allowed)
    rs = factories.real_server(vs, name="owa", address="127.0.0.1", port=443)
    with capture(execute=False):
        page = client.post(reverse("health_try", args=[vs.pk]), try_form(script, rs), HTTP_HX_REQUEST="true")
    return script, marker, rs, page.content.decode().split('id="manual-', 1)[1].split('"', 1)[0]


def test_the_page_polls_until_the_worker_has_answered(client_for, admin_user, make_user, vs, allowed,
                                                      django_capture_on_commit_callbacks):
    client = client_for(admin_user)
    script, _, rs, token = start_try(client, vs, allowed, django_capture_on_commit_callbacks)
    poll = reverse("health_manual_result", args=[token])
    assert "running in the worker" in client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    # What the worker does with the task (here, in-process, to test the page's side).
    payload = {"check_type": "program", "send_program": f"{script} %h %p", "expect": "OK", "host": "127.0.0.1",
               "port": 443, "timeout": 2}
    run_queued(token, "try check", rs.pk, payload)
    answer = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert "UP " in answer and "program printed &#x27;OK&#x27;" in answer and "hx-get" not in answer
    # Another admin cannot read it.
    other = client_for(make_user("admin", username="other-admin"))
    assert "No such check" in other.get(poll, HTTP_HX_REQUEST="true").content.decode()


def test_without_a_worker_the_page_stops_waiting_and_says_so(client_for, admin_user, vs, allowed,
                                                             django_capture_on_commit_callbacks):
    client = client_for(admin_user)
    _, marker, _, token = start_try(client, vs, allowed, django_capture_on_commit_callbacks)
    get_redis().hset(MANUAL_KEY.format(token), "deadline", f"{time.time() - 1:.3f}")
    answer = client.get(reverse("health_manual_result", args=[token]), HTTP_HX_REQUEST="true").content.decode()
    assert "No answer from the worker" in answer and "hx-get" not in answer
    assert not marker.exists()


def test_check_now_of_a_program_check_is_audited_and_queued(client_for, operator, vs, allowed,
                                                            django_capture_on_commit_callbacks):
    script, marker = marker_program(allowed)
    HealthCheck.objects.filter(virtual_server=vs).update(check_type="program", send_program=f"{script} --host %h",
                                                         timeout=2)
    rs = factories.real_server(vs, name="owa", address="192.0.2.21", port=443)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client_for(operator).post(reverse("health_check_now", args=[rs.pk]), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert f'id="rs-{rs.pk}"' in page and "running in the worker..." in page
    assert len(queued) == 1
    assert AuditEntry.objects.get(action="check now").message == "argv " + json.dumps([str(script), "--host", "192.0.2.21"])
    assert not marker.exists()


def test_a_saved_program_outside_the_directory_is_refused_in_the_worker(vs, allowed, settings):
    # Saved before the directory rule (or the rule changed): the run-time check refuses it.
    HealthCheck.objects.filter(virtual_server=vs).update(check_type="program", send_program="/bin/sh -c 'echo OK'",
                                                         expect="OK", timeout=2)
    rs = factories.real_server(vs, name="owa", address="127.0.0.1", port=443)
    get_redis().hset(MANUAL_KEY.format("t1"), mapping={"user": "x", "deadline": "0"})
    run_queued("t1", "check now", rs.pk, None)
    assert get_redis().hget(MANUAL_KEY.format("t1"), "line").endswith(f"program /bin/sh is not in {allowed.path}")
