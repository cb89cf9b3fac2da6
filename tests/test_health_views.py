"""The health views: "check now" runs one real check and shows its line, "try it" runs a
check as typed against a chosen real server, the history lists transitions, and
CONTROL/MONITORING raises the alarm when the checker's results stop."""
import time

import pytest
from django.urls import reverse

from monitoring.health_counter import LAST_RESULT_KEY, STATE_KEY
from monitoring.transitions import write_transition
from virtualservers.health_facts import LAST_KEY
from monitoring.models import HealthEvent
from lbadmin.redis_client import get_redis
from tests import factories
from tests.health_servers import closed_port, http_server, listener
from virtualservers.models import HealthCheck, RealServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_health_keys():
    redis = get_redis()
    redis.delete(STATE_KEY, LAST_KEY, LAST_RESULT_KEY)
    yield
    redis.delete(STATE_KEY, LAST_KEY, LAST_RESULT_KEY)


@pytest.fixture
def vs():
    vs = factories.virtual_server(name="web", address="192.0.2.80", port=80, forwarding="nat", active=True,
                                  persistent=0, pmask="")
    HealthCheck.objects.filter(virtual_server=vs).update(check_type="tcp", timeout=2, interval=2, fall=1)
    return vs


def real(vs, name, port):
    return factories.real_server(vs, name=name, address="127.0.0.1", port=port, admin_state="enabled")


def test_check_now_runs_the_check_and_shows_its_line_in_the_row(client_for, operator, vs):
    rs = real(vs, "dead", closed_port())
    response = client_for(operator).post(reverse("health_check_now", args=[rs.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="rs-{rs.pk}"' in page
    assert "DOWN " in page and "connection refused" in page
    rs.refresh_from_db()
    assert rs.health == "down"  # fall=1: the one result counted
    assert HealthEvent.objects.filter(real_server=rs, new_state="down").exists()


def test_check_now_without_htmx_redirects_to_the_real_servers(client_for, operator, vs):
    with listener() as port:
        rs = real(vs, "alive", port)
        response = client_for(operator).post(reverse("health_check_now", args=[rs.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("real_list", args=[vs.pk])
    page = client_for(operator).get(reverse("real_list", args=[vs.pk])).content.decode()
    assert "connected" in page and "CHECK NOW" in page


def test_it_refuses_check_now_to_a_viewer(client_for, viewer, vs):
    rs = real(vs, "dead", closed_port())
    assert client_for(viewer).post(reverse("health_check_now", args=[rs.pk])).status_code == 403
    assert "CHECK NOW" not in client_for(viewer).get(reverse("real_list", args=[vs.pk])).content.decode()


def test_try_it_runs_the_check_as_typed_against_the_chosen_server(client_for, admin_user, vs):
    with http_server(status=503) as port:
        rs = real(vs, "owa", port)
        form = {"check_type": "http", "interval": 6, "timeout": 2, "rise": 2, "fall": 3, "initial_state": "up",
                "slow_start": 0, "http_method": "GET", "http_path": "/owa", "http_status": "200-399",
                "dns_type": "A", "real_server": rs.pk}
        response = client_for(admin_user).post(reverse("health_try", args=[vs.pk]), form, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and 'id="try-result"' in page
    assert "DOWN " in page and "HTTP 503" in page
    # Nothing was saved and nothing counted.
    assert HealthCheck.objects.get(virtual_server=vs).check_type == "tcp"
    assert RealServer.objects.get(pk=rs.pk).health == "unknown"


def test_try_it_says_up_for_the_owa_check(client_for, admin_user, vs):
    with http_server(status=200) as port:
        rs = real(vs, "owa", port)
        form = {"check_type": "http", "interval": 6, "timeout": 2, "rise": 2, "fall": 3, "initial_state": "up",
                "slow_start": 0, "http_method": "GET", "http_path": "/owa", "http_status": "200-399",
                "http_body": "utlook", "dns_type": "A", "real_server": rs.pk}
        page = client_for(admin_user).post(reverse("health_try", args=[vs.pk]), form,
                                           HTTP_HX_REQUEST="true").content.decode()
    assert "UP " in page and "HTTP 200" in page


def test_try_it_without_form_fields_tries_the_saved_check(client_for, admin_user, vs):
    rs = real(vs, "dead", closed_port())
    response = client_for(admin_user).post(reverse("health_try", args=[vs.pk]), {"real_server": rs.pk})
    assert response.status_code == 200
    assert "DOWN " in response.content.decode() and "connection refused" in response.content.decode()


def test_try_it_asks_for_a_real_server_and_reports_bad_fields(client_for, admin_user, vs):
    client = client_for(admin_user)
    assert "Choose one" in client.post(reverse("health_try", args=[vs.pk]), HTTP_HX_REQUEST="true").content.decode()
    rs = real(vs, "x", closed_port())
    page = client.post(reverse("health_try", args=[vs.pk]), {"check_type": "program", "real_server": rs.pk},
                       HTTP_HX_REQUEST="true").content.decode()
    assert "Not tried" in page and "DOWN" not in page


def test_the_check_form_offers_every_type_and_try_it_to_admins_only(client_for, admin_user, viewer, vs):
    real(vs, "a", closed_port())
    page = client_for(admin_user).get(reverse("check_edit", args=[vs.pk])).content.decode()
    for label in ("TCP connect", "over UDP", "HTTP / HTTPS", "External program", "DNS query", "ICMP echo", "None"):
        assert label in page
    assert "TRY IT" in page and reverse("health_try", args=[vs.pk]) in page
    assert "TRY IT" not in client_for(viewer).get(reverse("check_edit", args=[vs.pk])).content.decode()


def test_the_history_lists_transitions_newest_first(client_for, viewer, vs):
    rs = real(vs, "flap", closed_port())
    write_transition(rs.pk, "down", "1 failure in a row: connection refused", 0.3, at=time.time() - 60)
    write_transition(rs.pk, "up", "2 successes in a row: connected", 0.2)
    page = client_for(viewer).get(reverse("health_history", args=[rs.pk])).content.decode()
    assert page.index("2 successes in a row") < page.index("1 failure in a row")
    assert "CHECK NOW" not in page  # viewers see no buttons


def test_control_raises_the_alarm_when_results_stop(client_for, viewer, vs):
    real(vs, "a", closed_port())
    client = client_for(viewer)
    get_redis().set(LAST_RESULT_KEY, f"{time.time() - 7:.3f}")  # interval 2: 3 intervals = 6 s
    page = client.get(reverse("control")).content.decode()
    assert 'id="health-alarm"' in page and "produced no results for " in page
    get_redis().set(LAST_RESULT_KEY, f"{time.time():.3f}")
    assert 'id="health-alarm"' not in client.get(reverse("control")).content.decode()


def test_there_is_no_alarm_when_nothing_is_configured_to_check(client_for, viewer):
    assert 'id="health-alarm"' not in client_for(viewer).get(reverse("control")).content.decode()
