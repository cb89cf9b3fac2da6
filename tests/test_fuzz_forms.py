"""Fuzzing every form with hypothesis: whatever is posted, never a 5xx, and
an invalid post saves nothing."""
import pytest
from django.urls import reverse
from hypothesis import HealthCheck as H
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import factories
from tests.test_validation import GOOD_VS

# Text that stresses parsers: numbers at the edges, addresses, unicode, NULs.
nasty = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-2**40, max_value=2**40).map(str),
    st.sampled_from(["", " ", "0", "-1", "65535", "65536", "4294967296", "1e9", "NaN", "192.0.2.300", "::", "::1",
                     "2001:db8::1", "255.255.255.255", "eth0:1", "\x00", "' OR 1=1 --", "$(reboot)", "%h %p",
                     "(", "[", "\\", "a" * 300, "ǅ", "\u202e"]),
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[H.function_scoped_fixture, H.too_slow])


def fuzzed(base: dict, overrides: dict) -> dict:
    return {**base, **{k: v for k, v in overrides.items()}}


@pytest.mark.django_db
@SETTINGS
@given(overrides=st.dictionaries(st.sampled_from(sorted(GOOD_VS) + ["fwmark", "sorry_server", "sorry_port"]), nasty, max_size=4))
def test_the_virtual_server_form_never_fails_with_a_5xx(client_for, make_user, overrides):
    from django.contrib.auth.models import User

    user = User.objects.filter(username="fuzz-admin").first() or make_user("admin", username="fuzz-admin")
    client = client_for(user)
    count_before = factories.VirtualServer.objects.count()
    response = client.post(reverse("virtual_add"), fuzzed(GOOD_VS, overrides))
    assert response.status_code < 500
    if response.status_code == 200:
        assert factories.VirtualServer.objects.count() == count_before


@pytest.mark.django_db
@SETTINGS
@given(overrides=st.dictionaries(st.sampled_from(["name", "address", "port", "weight", "forwarding"]), nasty, max_size=4))
def test_the_real_server_form_never_fails_with_a_5xx(client_for, make_user, overrides):
    from django.contrib.auth.models import User

    user = User.objects.filter(username="fuzz-admin").first() or make_user("admin", username="fuzz-admin")
    vs = factories.VirtualServer.objects.first() or factories.virtual_server()
    response = client_for(user).post(reverse("real_add", args=[vs.pk]),
                                     fuzzed({"name": "CAS1", "address": "192.0.2.21", "weight": "1"}, overrides))
    assert response.status_code < 500


CHECK_FIELDS = ["check_type", "send_program", "send", "expect", "use_regex", "interval", "timeout", "rise", "fall",
                "initial_state", "http_path", "http_status", "http_body", "dns_name", "dns_type"]


@pytest.mark.django_db
@SETTINGS
@given(overrides=st.dictionaries(st.sampled_from(CHECK_FIELDS), nasty, max_size=5))
def test_the_health_check_form_never_fails_with_a_5xx(client_for, make_user, overrides):
    from django.contrib.auth.models import User

    user = User.objects.filter(username="fuzz-admin").first() or make_user("admin", username="fuzz-admin")
    vs = factories.VirtualServer.objects.first() or factories.virtual_server()
    base = {"check_type": "tcp", "interval": "6", "timeout": "6", "rise": "2", "fall": "3", "initial_state": "up",
            "slow_start": "0", "http_method": "GET", "http_path": "/", "http_status": "200-399", "dns_type": "A"}
    response = client_for(user).post(reverse("check_edit", args=[vs.pk]), fuzzed(base, overrides))
    assert response.status_code < 500


@pytest.mark.django_db
@SETTINGS
@given(page=st.sampled_from(["global_settings", "redundancy", "director_add", "user_add", "audit_list"]),
       overrides=st.dictionaries(st.sampled_from(["primary", "network", "nat_router_ip", "nat_nmask", "nat_router_device",
                                                  "tcp_timeout", "backup", "keepalive", "deadtime", "heartbeat_port",
                                                  "syncd_id", "syncd_iface", "name", "address", "ssh_port", "host_key",
                                                  "ssh_key_path", "username", "role", "password", "since", "until", "q",
                                                  "page", "action"]), nasty, max_size=5))
def test_the_other_forms_never_fail_with_a_5xx(client_for, make_user, page, overrides):
    from django.contrib.auth.models import User

    user = User.objects.filter(username="fuzz-admin").first() or make_user("admin", username="fuzz-admin")
    client = client_for(user)
    if page == "audit_list":
        response = client.get(reverse(page), overrides)
    else:
        response = client.post(reverse(page), overrides)
    assert response.status_code < 500
