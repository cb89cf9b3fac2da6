"""The rules tightened so that whatever a form accepts a backup can restore: each one
refuses next to its field, with the same words as the importers and the backup loader."""
import pytest
from django.urls import reverse

from lbadmin.models import ClusterSettings, RedundancySettings
from tests import factories
from tests.test_validation import GOOD_VS, field_error
from virtualservers.models import HealthCheck, VirtualServer

pytestmark = pytest.mark.django_db

GOOD_CHECK = {"check_type": "tcp", "interval": "6", "timeout": "6", "rise": "2", "fall": "3", "initial_state": "up",
              "slow_start": "0", "http_method": "GET", "http_path": "/", "http_status": "200-399", "dns_type": "A"}


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


@pytest.fixture
def post_check(admin_client):
    """Post the check form of a fresh virtual server; the saved check must stay as it was."""
    vs = factories.virtual_server()

    def post(field: str, **change) -> str:
        before = HealthCheck.objects.filter(virtual_server=vs).values().get()
        response = admin_client.post(reverse("check_edit", args=[vs.pk]), {**GOOD_CHECK, **change})
        message = field_error(response, field)
        assert HealthCheck.objects.filter(virtual_server=vs).values().get() == before
        return message

    post.vs = vs
    return post


@pytest.fixture
def post_vs(admin_client):
    def post(field: str, **change) -> str:
        message = field_error(admin_client.post(reverse("virtual_add"), {**GOOD_VS, **change}), field)
        assert not VirtualServer.objects.exists()
        return message

    return post


@pytest.fixture
def post_settings(admin_client):
    def post(page: str, field: str, **change) -> str:
        model = ClusterSettings if page == "global_settings" else RedundancySettings
        form = admin_client.get(reverse(page)).context["form"]
        before = list(model.objects.values())
        data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
        message = field_error(admin_client.post(reverse(page), {**data, **change}), field)
        assert list(model.objects.values()) == before
        return message

    return post


# --- health check -------------------------------------------------------------------------


def test_it_refuses_status_600(post_check):
    assert "'600' is not an HTTP status code or range" in post_check("http_status", check_type="http", http_status="600")


def test_it_refuses_a_status_range_that_runs_backwards(post_check):
    assert "ends before it starts" in post_check("http_status", check_type="http", http_status="399-200")


def test_it_refuses_a_status_list_with_an_empty_item(post_check):
    assert "not an HTTP status code" in post_check("http_status", check_type="http", http_status="200,,302")


def test_a_tcp_check_post_leaves_the_status_as_saved(admin_client, post_check):
    # A backup carries every field, whatever the check type: a TCP check's form has no
    # status field, so whatever a post says there is neither judged nor saved.
    response = admin_client.post(reverse("check_edit", args=[post_check.vs.pk]),
                                 {**GOOD_CHECK, "check_type": "tcp", "http_status": "2xx"})
    assert response.status_code == 302
    assert HealthCheck.objects.get(virtual_server=post_check.vs).http_status == "200-399"


def test_it_refuses_a_path_with_a_space(post_check):
    assert "no spaces" in post_check("http_path", check_type="http", http_path="/a b")


def test_it_refuses_a_program_on_two_lines(post_check):
    assert "one line" in post_check("send_program", check_type="program", send_program="/bin/check %h\n/bin/reboot")


def test_it_refuses_a_host_header_on_two_lines(post_check):
    assert "one line" in post_check("http_host", check_type="http", http_host="a.example\r\nX-Evil: 1")


def test_it_refuses_a_nul_in_the_send_string(post_check):
    # Django's form field refuses the NUL already; the model's rule says the same for code paths.
    assert "null" in post_check("send", check_type="send_expect", send="GET /\x00").lower()


def test_it_refuses_a_dns_name_with_a_space(post_check):
    assert "not a DNS name" in post_check("dns_name", check_type="dns", dns_name="www example.com")


def test_it_refuses_an_interval_longer_than_a_day(post_check):
    assert "from 1 to 86400" in post_check("interval", interval="86401")


def test_it_refuses_a_timeout_longer_than_a_day(post_check):
    assert "from 1 to 86400" in post_check("timeout", timeout=str(2**63 - 1))


def test_it_refuses_a_fall_above_10000(post_check):
    assert "from 1 to 10000" in post_check("fall", fall="10001")


def test_it_refuses_a_slow_start_longer_than_a_day(post_check):
    assert "from 0 to 86400" in post_check("slow_start", slow_start="86401")


def test_it_refuses_a_send_expect_check_with_nothing_to_send_or_expect(post_check):
    assert "needs a send string" in post_check("send", check_type="send_expect", send="", expect="")


def test_it_refuses_a_dns_expect_that_is_not_a_regex(post_check):
    assert "regular expression" in post_check("dns_expect", check_type="dns", dns_name="example.com",
                                              use_regex="on", dns_expect="(")


def test_it_refuses_the_put_method(post_check):
    assert "Select a valid choice" in post_check("http_method", check_type="http", http_method="PUT")


def test_it_keeps_a_send_string_with_escapes_and_star_as_any_reply(admin_client, post_check):
    # Operators write \r\n as text; the check decodes it (monitoring.checks.matching).
    data = {**GOOD_CHECK, "check_type": "send_expect", "send": r"HEAD / HTTP/1.0\r\n\r\n", "expect": "*", "use_regex": "on"}
    assert admin_client.post(reverse("check_edit", args=[post_check.vs.pk]), data).status_code == 302
    check = HealthCheck.objects.get(virtual_server=post_check.vs)
    assert (check.send, check.expect) == (r"HEAD / HTTP/1.0\r\n\r\n", "*")


def test_the_model_keeps_a_send_string_with_a_real_cr_lf():
    # lvs.cf imports decode "\r\n" into the characters; the backup keeps them as they are.
    check = factories.virtual_server().health_check
    check.check_type, check.send = "send_expect", "HEAD / HTTP/1.0\r\n\r\n"
    check.full_clean()


# --- virtual server -----------------------------------------------------------------------


def test_it_refuses_a_drain_timeout_that_would_overflow_a_date(post_vs):
    assert "from 0 to 604800" in post_vs("drain_timeout", drain_timeout=str(2**63 - 1))


def test_it_refuses_a_persistence_above_31_days(post_vs):
    assert "from 0 to 2678400" in post_vs("persistent", persistent="2678401")


def test_it_refuses_a_sorry_port_without_a_sorry_server(post_vs):
    assert "needs a sorry server" in post_vs("sorry_port", sorry_port="8080")


def test_it_refuses_a_firewall_mark_for_sctp(post_vs):
    assert "SCTP is not supported" in post_vs("fwmark", fwmark="10", protocol="sctp")


def test_it_refuses_an_unknown_load_monitor(post_vs):
    assert "Select a valid choice" in post_vs("load_monitor", load_monitor="snmp")


# --- global and redundancy settings ---------------------------------------------------------


def test_it_refuses_a_tcp_timeout_above_31_days(post_settings):
    assert "from 0 to 2678400" in post_settings("global_settings", "tcp_timeout", tcp_timeout="2678401")


def test_it_refuses_a_blank_debug_level(post_settings):
    assert "required" in post_settings("global_settings", "debug_level", debug_level="")


def test_it_refuses_an_active_command_on_two_lines(post_settings):
    assert "one line" in post_settings("global_settings", "active_cmd", active_cmd="/bin/true\n/bin/false")


def test_it_refuses_an_ipvsadm_path_with_a_space(post_settings):
    assert "absolute path without spaces" in post_settings("global_settings", "ipvsadm_path", ipvsadm_path="/sbin/ip vsadm")


def test_it_refuses_a_heartbeat_interval_of_0(post_settings):
    assert "from 1 to 86400" in post_settings("redundancy", "keepalive", keepalive="0")


def test_it_refuses_a_dead_time_longer_than_a_day(post_settings):
    assert "from 1 to 86400" in post_settings("redundancy", "deadtime", deadtime="86401")


# --- the model's clean() for code paths without a form ----------------------------------------


def test_the_model_refuses_a_nul_in_the_expect_string():
    from django.core.exceptions import ValidationError

    check = factories.virtual_server().health_check
    check.expect = "OK\x00"
    with pytest.raises(ValidationError) as refused:
        check.full_clean()
    assert "must not contain a NUL character" in " ".join(refused.value.message_dict["expect"])
