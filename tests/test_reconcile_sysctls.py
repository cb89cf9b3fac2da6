"""Reconcile sets net.ipv4.vs.expire_quiescent_template and expire_nodest_conn on its
directors as GLOBAL SETTINGS asks, checks them read back, and does not repeat itself on
every change (the lab test proves the kernel side: tests/test_lab_drains.py)."""
import pytest

from lbadmin.models import ClusterSettings, Director
from tests import factories
from virtualservers import ipvs
from virtualservers.ipvs import scripts
from virtualservers.models import ApplyRun
from virtualservers.reconcile import forget_executor, reconcile_director

pytestmark = pytest.mark.django_db


class FakeDirector:
    """An executor over an empty kernel table whose sysctls start at 0."""

    def __init__(self, keep_values: bool = False):
        self.sysctls = {"expire_nodest_conn": "0", "expire_quiescent_template": "0"}
        self.keep_values = keep_values  # a kernel that refuses the write
        self.calls: list[str] = []

    def save(self) -> str:
        self.calls.append("save")
        return ""

    def list_text(self, kind="list") -> str:
        return "IP Virtual Server version 1.2.1 (size=4096)\n"

    def run(self, argv, stdin=None):
        return ipvs.RunResult(list(argv), 0, "Timeout (tcp tcpfin udp): 900 120 300\n", "", 0.0)

    def restore(self, lines):
        self.calls.append("restore")
        return None

    def run_script(self, script, args=(), stdin=None):
        assert script is scripts.SET_IPVS_SYSCTLS
        self.calls.append("sysctls")
        pairs = dict(zip(args[::2], args[1::2]))
        if not self.keep_values:
            self.sysctls.update(pairs)
        out = "".join(f"net.ipv4.vs.{name} = {self.sysctls[name]}\n" for name in pairs)
        return ipvs.RunResult([script.name, *args], 0, out, "", 0.0)

    def close(self):
        pass


@pytest.fixture
def director(monkeypatch, redis_url):
    d = factories.director(name="lb1")
    # The process remembers what it set per director id; an earlier test's director may
    # have had this id (a rolled-back database gives ids again).
    forget_executor(d.pk)
    fake = FakeDirector()
    monkeypatch.setattr("virtualservers.reconcile.executor_for", lambda director: fake)
    yield d, fake
    forget_executor(d.pk)


def test_it_sets_both_sysctls_before_anything_is_applied(director):
    d, fake = director
    outcome = reconcile_director(d.pk, trigger="change")
    assert outcome.run.result == ApplyRun.Result.NOOP, outcome.run.error
    assert fake.sysctls == {"expire_nodest_conn": "1", "expire_quiescent_template": "1"}
    assert fake.calls.index("sysctls") < len(fake.calls)
    assert "restore" not in fake.calls[:fake.calls.index("sysctls")]


def test_it_sets_them_once_per_change_of_settings_and_again_at_each_sweep(director):
    d, fake = director
    reconcile_director(d.pk, trigger="change")
    reconcile_director(d.pk, trigger="change")
    assert fake.calls.count("sysctls") == 1
    reconcile_director(d.pk, trigger="sweep")  # a rebooted director lost them
    assert fake.calls.count("sysctls") == 2


def test_turning_a_setting_off_leaves_the_directors_value_alone(director):
    d, fake = director
    ClusterSettings.objects.update_or_create(pk=1, defaults={"expire_nodest_conn": False})
    reconcile_director(d.pk, trigger="change")
    assert fake.sysctls == {"expire_nodest_conn": "0", "expire_quiescent_template": "1"}
    ClusterSettings.objects.filter(pk=1).update(expire_quiescent_template=False)
    fake.calls.clear()
    reconcile_director(d.pk, trigger="sweep")
    assert "sysctls" not in fake.calls


def test_a_director_that_keeps_its_values_fails_the_apply_with_them(director):
    d, fake = director
    fake.keep_values = True
    with pytest.raises(ipvs.IpvsError):
        reconcile_director(d.pk, trigger="change")
    run = ApplyRun.objects.get(director=d)
    assert run.result == ApplyRun.Result.ERROR
    assert "net.ipv4.vs.expire_quiescent_template is 0, not 1" in run.error
    d.refresh_from_db()
    assert d.status == Director.Status.DEGRADED


def test_the_settings_name_only_sysctls_the_script_accepts():
    assert set(ClusterSettings().ipvs_sysctls()) == set(scripts.IPVS_SYSCTLS)


@pytest.mark.parametrize("args, message", [
    (["kernel.panic", "1"], "not an IPVS sysctl lbadmin sets"),
    (["expire_nodest_conn", "1; reboot"], "takes 0 or 1"),
])
def test_the_script_refuses_other_names_and_values_before_touching_anything(args, message):
    with pytest.raises(ipvs.CommandFailed, match=message):
        ipvs.LocalExecutor().run_script(scripts.SET_IPVS_SYSCTLS, args)


def test_the_script_says_so_where_ip_vs_is_not_loaded():
    # This host's kernel has no IPVS (reference/lab.md).
    with pytest.raises(ipvs.IpvsError, match="ip_vs module is not loaded"):
        ipvs.LocalExecutor().run_script(scripts.SET_IPVS_SYSCTLS, ["expire_nodest_conn", "1"])
