"""The kinds of event an alert reports: the one list that the model, the form and the
webhook's "event" field use."""

HEALTH = "health"
DRIFT = "drift"
APPLY_FAILED = "apply_failed"
VRRP = "vrrp"
CHECKER = "checker"

EVENT_CHOICES = [
    (HEALTH, "Real-server health changes (up, down)"),
    (DRIFT, "Drift: a director's kernel table changed behind lbadmin's back"),
    (APPLY_FAILED, "Apply failures"),
    (VRRP, "VRRP transitions (MASTER, BACKUP, FAULT)"),
    (CHECKER, "Health checker stopped producing results (and back)"),
]
EVENT_KINDS = [kind for kind, _ in EVENT_CHOICES]
# Events about one virtual server; the others concern a whole director (or the checker)
# and reach a destination whatever virtual servers it chose.
PER_VIRTUAL_SERVER = {HEALTH}

