"""The kernel's scheduler flags on the virtual server form: mh-fallback and mh-port for
Maglev hashing, sh-fallback and sh-port for source hashing, each only with its own
scheduler; carried to the kernel table and to keepalived.conf; lvs.cf says it drops them."""
import pytest
from django.urls import reverse

from virtualservers import ipvs
from virtualservers.desired import desired_table, service_key
from virtualservers.formats import choices, keepalived, lvscf
from virtualservers.formats import validate as v
from virtualservers.formats.config import Config, VirtualServerConfig
from virtualservers.ipvs import model as ipvs_model
from virtualservers.models import VirtualServer

FORM = {"name": "dns", "address": "192.0.2.53", "vip_nmask": "255.255.255.255", "device": "seth0:1",
        "protocol": "udp", "port": "53", "scheduler": "mh", "persistent": "0", "pmask": "",
        "forwarding": "direct", "load_monitor": "none", "drain_timeout": "300"}


def test_the_lists_match_the_engines():
    assert choices.SCHED_FLAGS_OF == ipvs_model.SCHED_FLAGS
    assert set(choices.values(choices.SCHED_FLAG_CHOICES)) == {f for fs in choices.SCHED_FLAGS_OF.values() for f in fs}


@pytest.mark.parametrize("flags, scheduler, stored", [
    ("mh-port,mh-fallback", "mh", "mh-fallback,mh-port"),
    (["sh-port"], "sh", "sh-port"),
    ("", "rr", ""),
])
def test_a_scheduler_takes_its_own_flags(flags, scheduler, stored):
    assert v.validate_sched_flags(flags, scheduler) == stored


@pytest.mark.parametrize("flags, scheduler, message", [
    ("mh-port", "sh", "the mh-port flag belongs to the mh scheduler, not to sh"),
    ("sh-fallback", "wlc", "belongs to the sh scheduler, not to wlc"),
    ("flag-1", "mh", "scheduler flag"),
    ("mh-port,mh-port", "mh", "twice"),
])
def test_other_flags_are_refused(flags, scheduler, message):
    with pytest.raises(ValueError, match=message):
        v.validate_sched_flags(flags, scheduler)


@pytest.mark.django_db
def test_the_form_saves_them_and_the_kernel_table_carries_them(client_for, admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("virtual_add"), {**FORM, "sched_flags": ["mh-port", "mh-fallback"]})
    assert response.status_code == 302, response.content.decode()[:3000]
    vs = VirtualServer.objects.get(name="dns")
    assert vs.sched_flags == "mh-fallback,mh-port"
    vs.active = True
    vs.save()
    service = desired_table()[service_key(vs)]
    assert service.sched_flags == ("mh-fallback", "mh-port")
    assert "-A -u 192.0.2.53:53 -s mh -b mh-fallback,mh-port" in ipvs.render(desired_table())
    page = client.get(reverse("virtual_edit", args=[vs.pk])).content.decode()
    assert 'value="mh-port" id="id_sched_flags_3" checked data-scheduler="mh"' in page


@pytest.mark.django_db
def test_the_form_refuses_a_flag_of_another_scheduler(client_for, admin_user):
    response = client_for(admin_user).post(reverse("virtual_add"), {**FORM, "scheduler": "rr", "sched_flags": ["sh-port"]})
    assert response.status_code == 200
    assert "The sh-port flag belongs to the sh scheduler, not to rr" in response.content.decode()
    assert not VirtualServer.objects.exists()


@pytest.mark.django_db
def test_the_form_offers_each_flag_with_its_scheduler():
    from virtualservers.forms import VirtualServerForm

    html = str(VirtualServerForm()["sched_flags"])
    for flag in ("sh-fallback", "sh-port", "mh-fallback", "mh-port"):
        assert f'value="{flag}"' in html
    assert html.count('data-scheduler="mh"') == 2 and html.count('data-scheduler="sh"') == 2


def _config(flags: str, scheduler: str = "mh") -> Config:
    return Config(virtual_servers=[VirtualServerConfig(name="dns", address="192.0.2.53", port=53, protocol="udp",
                                                       scheduler=scheduler, sched_flags=flags)])


def test_keepalived_conf_carries_them_after_lb_algo():
    text = keepalived.render_keepalived(_config("mh-fallback,mh-port"))
    assert "    lb_algo mh\n    mh-fallback\n    mh-port\n" in text


def test_lvs_cf_says_it_cannot_carry_them():
    notes = lvscf.lvscf_report(_config("sh-port", "sh"))
    assert "virtual server 'dns': scheduler flags sh-port not written (lvs.cf has no keyword for them)" in notes
    assert "sh-port" not in lvscf.render_lvscf(_config("sh-port", "sh"))


def test_a_backup_refuses_flags_that_do_not_go_with_the_scheduler():
    from virtualservers.formats.config import config_problems

    problems = [str(p) for p in config_problems(_config("sh-port", "mh"))]
    assert any("the sh-port flag belongs to the sh scheduler, not to mh" in p for p in problems), problems
