"""Faults in a reconcile end as visible states: a failed run with its reason, a degraded
director, the others unaffected; a run cut off is closed as interrupted; "report only"
never repairs drift, whatever Redis remembers (the baseline is in the database)."""
import pytest

from lbadmin.models import Director
from lbadmin.redis_client import get_redis
from tests import factories
from virtualservers import ipvs
from virtualservers.models import ApplyRun
from virtualservers.reconcile import leave_drift_alone, reconcile_director

A = ipvs.parse_save("-A -t 192.0.2.50:443 -s rr\n-a -t 192.0.2.50:443 -r 192.0.2.21:443 -g -w 1\n")
FOREIGN = ipvs.parse_save("-A -t 198.51.100.7:25 -s wlc\n")
B_CHANGED = ipvs.parse_save("-A -t 192.0.2.50:443 -s wlc\n-a -t 192.0.2.50:443 -r 192.0.2.21:443 -g -w 1\n")


def merged(*tables):
    return ipvs.Table([s for t in tables for s in t.values()])


def test_report_only_keeps_a_service_it_never_applied():
    assert leave_drift_alone(merged(A, FOREIGN), None, A) == merged(A, FOREIGN)


def test_report_only_keeps_a_service_changed_by_hand_and_applies_the_rest():
    wanted = merged(A, ipvs.parse_save("-A -t 192.0.2.60:80 -s rr\n"))
    kept = leave_drift_alone(B_CHANGED, A, wanted)
    assert kept.get(next(iter(A.keys()))) == B_CHANGED.get(next(iter(A.keys())))
    assert len(kept) == 2  # the operator's new service still goes in


def test_report_only_does_not_put_back_what_was_removed_by_hand():
    assert len(leave_drift_alone(ipvs.Table(), A, A)) == 0


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_run_and_degrades_only_that_director(monkeypatch, redis_url):
    broken = factories.director(name="broken", transport="ssh", ssh_key_path="/nonexistent/key",
                                host_key="ssh-ed25519 AAAA")  # saved around the form: paramiko cannot load it
    other = factories.director(name="other")

    def explode(director):
        if director.pk == broken.pk:
            raise ValueError("not a valid ssh-ed25519 key")
        raise ipvs.IpvsadmMissing("ipvsadm")

    monkeypatch.setattr("virtualservers.reconcile.executor_for", explode)
    with pytest.raises(ValueError):
        reconcile_director(broken.pk, "change")
    run = ApplyRun.objects.get(director=broken)
    assert run.result == ApplyRun.Result.ERROR and run.finished_at is not None
    assert run.error == "internal error (ValueError): not a valid ssh-ed25519 key"
    broken.refresh_from_db()
    assert broken.status == Director.Status.DEGRADED and "ValueError" in broken.status_reason
    with pytest.raises(ipvs.IpvsError):
        reconcile_director(other.pk, "change")
    assert ApplyRun.objects.get(director=other).error.startswith("ipvsadm")


@pytest.mark.django_db
def test_a_run_cut_off_by_a_dead_worker_is_closed_as_interrupted_by_the_next(monkeypatch, redis_url):
    director = factories.director()
    stale = ApplyRun.objects.create(director=director, trigger="change", result=ApplyRun.Result.RUNNING,
                                    stage="applying 3 command(s)")
    monkeypatch.setattr("virtualservers.reconcile.executor_for",
                        lambda d: (_ for _ in ()).throw(ipvs.IpvsadmMissing("ipvsadm")))
    get_redis().delete(f"lbadmin:reconcile:lock:{director.pk}")
    with pytest.raises(ipvs.IpvsError):
        reconcile_director(director.pk, "sweep")
    stale.refresh_from_db()
    assert stale.result == ApplyRun.Result.ERROR and stale.error.startswith("interrupted:")


@pytest.mark.django_db
def test_a_refused_apply_is_recorded_once_without_a_worker_traceback(caplog, redis_url):
    import logging

    from virtualservers.tasks import reconcile

    # This host's kernel has no IPVS: a local director's ipvsadm fails, as on a director
    # whose ip_vs module is missing. Not transient, so no retry either.
    director = factories.director(name="no-ipvs")
    with caplog.at_level(logging.INFO):
        result = reconcile.apply(args=[director.pk, "test"])
    assert result.successful(), result.traceback
    run = ApplyRun.objects.get(director=director)
    assert run.result == ApplyRun.Result.ERROR and run.error
    assert [r for r in caplog.records if r.exc_info] == []
    assert sum(f"on {director}" in r.getMessage() for r in caplog.records) == 1  # the one apply line
