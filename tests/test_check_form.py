"""The MONITORING SCRIPTS form shows the fields of the chosen check type and no others:
the server draws them (a plain SHOW ITS FIELDS post switches type without JavaScript),
HTMX swaps them when the type changes, and the other types' fields stay as saved, neither
lost nor judged. Every field says what lvs.cf and keepalived call it."""
import re

import pytest
from django.urls import reverse

from tests import factories
from virtualservers.formats.choices import CHECK_TIMING_FIELDS, CHECK_TYPE_CHOICES, CHECK_TYPE_FIELDS, values
from virtualservers.forms import CHECK_FIELD_MAPPING, HealthCheckForm
from virtualservers.models import HealthCheck

pytestmark = pytest.mark.django_db

BASE = {"interval": "6", "timeout": "6", "rise": "2", "fall": "3", "initial_state": "up", "slow_start": "0"}


@pytest.fixture
def vs():
    return factories.virtual_server()


def set_check(vs, **fields) -> HealthCheck:
    HealthCheck.objects.filter(virtual_server=vs).update(**fields)
    return HealthCheck.objects.get(virtual_server=vs)


def field_names(page: str) -> set[str]:
    """The names of the visible inputs, selects and text areas of a page."""
    names = set(re.findall(r'<(?:select|textarea)[^>]* name="([^"]+)"', page))
    names |= {name for kind, name in re.findall(r'<input type="([a-z]+)" name="([^"]+)"', page) if kind != "hidden"}
    return names - {"real_server"}  # the TRY IT form's own


def test_the_table_names_every_check_type_and_only_model_fields():
    assert set(CHECK_TYPE_FIELDS) == set(values(CHECK_TYPE_CHOICES))
    model_fields = {f.name for f in HealthCheck._meta.get_fields()}
    for names in [CHECK_TIMING_FIELDS, *CHECK_TYPE_FIELDS.values()]:
        assert set(names) <= model_fields
    assert set(HealthCheckForm.Meta.fields) == {"check_type", *CHECK_TIMING_FIELDS,
                                                *(n for names in CHECK_TYPE_FIELDS.values() for n in names)}


@pytest.mark.parametrize("check_type", values(CHECK_TYPE_CHOICES))
def test_the_page_shows_the_fields_of_the_saved_type_only(client_for, viewer, vs, check_type):
    set_check(vs, check_type=check_type)
    page = client_for(viewer).get(reverse("check_edit", args=[vs.pk])).content.decode()
    assert field_names(page) == {"check_type", *CHECK_TIMING_FIELDS, *CHECK_TYPE_FIELDS[check_type]}


def test_a_tcp_check_shows_no_http_dns_or_program_field(client_for, viewer, vs):
    page = client_for(viewer).get(reverse("check_edit", args=[vs.pk])).content.decode()
    assert 'name="http_path"' not in page.replace('type="hidden" name="http_path"', "")
    assert "Nothing more to set for this type" in page


def test_htmx_swaps_in_the_fields_of_the_chosen_type(client_for, viewer, vs):
    response = client_for(viewer).get(reverse("check_edit", args=[vs.pk]), {"check_type": "dns"},
                                      HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    part = response.content.decode()
    assert part.lstrip().startswith('<fieldset id="check-fields"')
    assert field_names(part) == {"dns_name", "dns_type", "dns_expect", "use_regex"}
    assert HealthCheck.objects.get(virtual_server=vs).check_type == "tcp"  # a GET changes nothing


def test_the_type_select_asks_htmx_for_the_fields(client_for, viewer, vs):
    page = client_for(viewer).get(reverse("check_edit", args=[vs.pk])).content.decode()
    row = page[page.index('hx-get="' + reverse("check_edit", args=[vs.pk])):]
    assert 'hx-trigger="change"' in row[:400] and 'hx-target="#check-fields"' in row[:400]


def test_show_its_fields_without_javascript_redraws_for_the_type_and_saves_nothing(client_for, admin_user, vs):
    check = set_check(vs, send="PING", expect="PONG")
    client = client_for(admin_user)
    page = client.get(reverse("check_edit", args=[vs.pk])).content.decode()
    version = re.search(r'name="_version" value="([^"]*)"', page).group(1)
    assert f'name="{HealthCheckForm.SWITCH}"' in page and "data-without-js" in page
    response = client.post(reverse("check_edit", args=[vs.pk]),
                           {**BASE, "interval": "9", "check_type": "https", "send": "PING", "expect": "PONG",
                            "http_path": "/", "http_method": "GET", "http_status": "200-399", "verify_tls": "True",
                            "_version": version, HealthCheckForm.SWITCH: "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert {"http_path", "sni", "verify_tls"} <= field_names(page) and "send" not in field_names(page)
    assert 'name="interval" value="9"' in page  # what was typed stays typed
    assert 'class="error"' not in page and 'class="errors"' not in page
    assert f'name="_version" value="{version}"' in page
    assert HealthCheck.objects.get(pk=check.pk).check_type == "tcp"


def test_switching_type_keeps_the_other_types_fields_as_saved_and_says_so(client_for, admin_user, vs):
    check = set_check(vs, check_type="program", send_program="/usr/local/lib/lbadmin/checks/owa %h %p",
                      expect="OK", use_regex=False)
    client = client_for(admin_user)
    response = client.post(reverse("check_edit", args=[vs.pk]),
                           {**BASE, "check_type": "http", "http_method": "GET", "http_path": "/owa",
                            "http_status": "200-399", "http_body": "utlook"})
    assert response.status_code == 302
    check.refresh_from_db()
    assert (check.check_type, check.http_path, check.http_body) == ("http", "/owa", "utlook")
    assert (check.send_program, check.expect) == ("/usr/local/lib/lbadmin/checks/owa %h %p", "OK")
    page = client.get(reverse("check_edit", args=[vs.pk])).content.decode()
    assert "Kept as saved for other check types" in page and "/usr/local/lib/lbadmin/checks/owa %h %p" in page
    # and back: the program check comes back as it was, from the hidden inputs
    part = client.get(reverse("check_edit", args=[vs.pk]),
                      {"check_type": "program", "send_program": check.send_program, "expect": "OK",
                       "use_regex": "False"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="/usr/local/lib/lbadmin/checks/owa %h %p"' in part


def test_a_pattern_kept_from_another_type_is_not_judged(client_for, admin_user, vs):
    check = set_check(vs, check_type="send_expect", send="x", expect="([unclosed", use_regex=False)
    response = client_for(admin_user).post(reverse("check_edit", args=[vs.pk]),
                                           {**BASE, "check_type": "http", "http_method": "GET", "http_path": "/",
                                            "http_status": "200-399", "http_body": "ok", "use_regex": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    check.refresh_from_db()
    assert check.use_regex and check.expect == "([unclosed"


def test_a_pattern_the_type_reads_is_judged(client_for, admin_user, vs):
    response = client_for(admin_user).post(reverse("check_edit", args=[vs.pk]),
                                           {**BASE, "check_type": "http", "http_method": "GET", "http_path": "/",
                                            "http_status": "200-399", "http_body": "([unclosed", "use_regex": "on"})
    assert response.status_code == 200
    assert 'id="id_http_body_error"' in response.content.decode()


def test_every_field_says_what_it_is_in_lvs_cf_and_keepalived():
    assert set(CHECK_FIELD_MAPPING) == set(HealthCheckForm.Meta.fields)
    for name, words in CHECK_FIELD_MAPPING.items():
        assert "lvs.cf" in words or name == "http_method", name
    assert "Piranha's timeout" in CHECK_FIELD_MAPPING["interval"]
    assert "timeout = 30" in CHECK_FIELD_MAPPING["interval"]


def test_the_page_explains_piranhas_timeout(client_for, viewer, vs):
    page = client_for(viewer).get(reverse("check_edit", args=[vs.pk])).content.decode()
    assert "Piranha&#x27;s timeout" in page or "Piranha's timeout" in page
    assert "the lvs.cf export writes the interval" in page
