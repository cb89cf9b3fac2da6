"""Check the audit log's hash chain: `manage.py verify_audit` prints how many entries
verified, or names the first broken link and exits 1."""
from django.core.management.base import BaseCommand, CommandError

from lbadmin.audit_chain import first_break
from lbadmin.models import AuditChainHead, AuditEntry


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exit 1 at the first broken link."

    def handle(self, *args, **options):
        total = AuditEntry.objects.count()
        entries = ((e.pk, e.prev_hash or "", e.entry_hash, e.chained_fields())
                   for e in AuditEntry.objects.order_by("id").iterator(chunk_size=2000))
        head = AuditChainHead.objects.filter(pk=1).first()
        checked = self._progress(entries, total)
        try:
            broken = first_break(checked, head.last_hash if head else "")
        finally:  # stopping at a break leaves the cursor open otherwise
            checked.close()
            entries.close()
        if broken is not None:
            raise CommandError(f"audit log chain broken at {broken}")
        self.stdout.write(f"audit log intact: {total} entries, each linked to the one before it")

    def _progress(self, entries, total: int):
        """A progress line on stderr for long logs (every 10,000 entries)."""
        for done, entry in enumerate(entries, 1):
            if done % 10000 == 0:
                self.stderr.write(f"  verified {done:,} of {total:,} entries...")
            yield entry
