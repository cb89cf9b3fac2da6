"""Only programs in the check program directory may be named: the form, the model and
the importers refuse any other path next to the field, before anything is saved."""
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests import factories
from tests.test_validation import field_error
from tests.test_validation_rules import GOOD_CHECK
from virtualservers.configio.store import ConfigRefused, write_config
from virtualservers.formats import validate as rules
from virtualservers.formats.lvscf import parse_lvscf
from virtualservers.models import HealthCheck

pytestmark = pytest.mark.django_db

CHECKS = "/srv/lbadmin-checks"
REFUSED = f"The program must be a file in {CHECKS}, the check program directory the operator set up"


@pytest.fixture(autouse=True)
def program_dir(settings):
    settings.LBADMIN_CHECK_PROGRAM_DIR = CHECKS


def post_program(client, vs, command: str):
    return client.post(reverse("check_edit", args=[vs.pk]),
                       {**GOOD_CHECK, "check_type": "program", "send_program": command})


@pytest.mark.parametrize("command", ["/bin/sh -c 'rm -rf /'", "/bin/cat /var/lib/lbadmin/secret_key",
                                     f"{CHECKS}/../../bin/sh -c id", f"{CHECKS}x/check %h", "check_owa %h %p"])
def test_the_form_refuses_a_program_outside_the_directory(client_for, admin_user, command):
    vs = factories.virtual_server()
    response = post_program(client_for(admin_user), vs, command)
    assert field_error(response, "send_program").startswith(REFUSED)
    assert HealthCheck.objects.get(virtual_server=vs).check_type != "program"


def test_the_form_saves_a_program_inside_the_directory(client_for, admin_user):
    vs = factories.virtual_server()
    response = post_program(client_for(admin_user), vs, f"{CHECKS}/lvs_check_owa %h %p")
    assert response.status_code == 302
    assert HealthCheck.objects.get(virtual_server=vs).send_program == f"{CHECKS}/lvs_check_owa %h %p"


def test_the_model_refuses_a_placeholder_in_the_programs_own_path():
    vs = factories.virtual_server()
    check = HealthCheck.objects.get(virtual_server=vs)
    check.check_type, check.send_program = "program", f"{CHECKS}/%h"
    with pytest.raises(ValidationError) as refused:
        check.full_clean()
    assert refused.value.message_dict["send_program"] == ["The program's own path cannot hold %h or %p."]


def test_the_rule_is_a_pure_string_rule_with_the_directory_given():
    assert rules.validate_program_location("/opt/c/x %h", "/opt/c/") == "/opt/c/x %h"
    with pytest.raises(ValueError):
        rules.validate_program_location("/opt/c/./x", "/opt/c")


def test_an_lvs_cf_import_is_refused_with_the_program_named():
    # Piranha's own example names /usr/local/bin/lvs_check_owa: move it into the directory first.
    text = open("tests/corpus/lvscf/piranha_example.cf").read()
    config, _ = parse_lvscf(text)
    with pytest.raises(ConfigRefused) as refused:
        write_config(config, dry_run=True)
    assert any("send_program" in line and REFUSED in line and "/usr/local/bin/lvs_check_owa" in line
               for line in refused.value.problems)
    assert not HealthCheck.objects.filter(check_type="program").exists()


def test_the_default_directory_is_one_value(settings):
    from monitoring.checks.spec import DEFAULT_PROGRAM_DIR, DEFAULT_PROGRAM_USER
    from lbadmin import settings as project_settings

    assert project_settings.LBADMIN_CHECK_PROGRAM_DIR == DEFAULT_PROGRAM_DIR == "/usr/local/lib/lbadmin/checks"
    assert project_settings.LBADMIN_CHECK_PROGRAM_USER == DEFAULT_PROGRAM_USER == "nobody"
