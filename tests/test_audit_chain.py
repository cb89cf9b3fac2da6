"""The audit log is tamper-evident: a hash chain over every entry, checked by
`manage.py verify_audit`, which names the first broken link."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from lbadmin import audit
from lbadmin.audit_chain import entry_hash
from lbadmin.models import AuditChainHead, AuditEntry


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out, stderr=StringIO())
    return out.getvalue()


def unlocked_sql(sql: str, params=()) -> None:
    """What someone holding the database file can do: go around the triggers."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO lbadmin_audit_unlock (reason) VALUES ('test: tampering')")
        cursor.execute(sql, params)
        cursor.execute("DELETE FROM lbadmin_audit_unlock")


@pytest.fixture
def log(db):
    return [audit.record("update", None, object_type="Test", object_repr=f"thing {n}", before={"n": n},
                         after={"n": n + 1}, actor="tester", message=f"change {n}") for n in range(5)]


@pytest.mark.django_db
def test_each_entry_links_to_the_one_before_it(log):
    assert log[0].prev_hash == "" and all(b.prev_hash == a.entry_hash for a, b in zip(log, log[1:]))
    fresh = AuditEntry.objects.get(pk=log[2].pk)
    assert fresh.entry_hash == entry_hash(fresh.prev_hash, fresh.chained_fields())
    assert AuditChainHead.objects.get(pk=1).last_hash == log[-1].entry_hash
    assert verify() == "audit log intact: 5 entries, each linked to the one before it\n"


@pytest.mark.django_db
def test_a_changed_entry_is_named(log):
    unlocked_sql("UPDATE lbadmin_auditentry SET message = %s WHERE id = %s", ["nothing happened", log[2].pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"entry #{log[2].pk}: its content does not match its hash" in str(broken.value)


@pytest.mark.django_db
def test_a_removed_entry_breaks_the_link_of_the_next(log):
    unlocked_sql("DELETE FROM lbadmin_auditentry WHERE id = %s", [log[1].pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"entry #{log[2].pk}: its link to the entry before it is broken" in str(broken.value)


@pytest.mark.django_db
def test_a_removed_tail_is_found_against_the_chain_head(log):
    unlocked_sql("DELETE FROM lbadmin_auditentry WHERE id >= %s", [log[3].pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"entry #{log[2].pk}: the chain head names a later entry" in str(broken.value)


@pytest.mark.django_db
def test_an_entry_slipped_in_with_a_forged_hash_is_found(log):
    unlocked_sql("UPDATE lbadmin_auditentry SET prev_hash = %s WHERE id = %s", ["0" * 64, log[3].pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"entry #{log[3].pk}:" in str(broken.value)
