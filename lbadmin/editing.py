"""The one way configuration is saved from a form: validated, in one
transaction, with an audit entry holding the values before and after, and
refused when someone else saved the same object since the form was shown."""
import hashlib
import json

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from .http import page_or_partial

from . import audit

STALE = ("Nothing was saved: someone else saved this while you were editing. What is saved now is shown "
         "beside your values below; submit again to replace it with yours.")


def version_of(snapshot: dict | None, fields) -> str:
    """A short fingerprint of the saved values of the form's fields: the form carries it,
    and a POST whose fingerprint no longer matches was made from a stale page."""
    if snapshot is None:
        return ""
    shown = {name: snapshot.get(name) for name in fields if name in snapshot}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _newer_values(form, before: dict) -> list[tuple[str, object, object]]:
    """(label, saved now, yours) for each field whose saved value differs from the post."""
    rows = []
    for name, field in form.fields.items():
        if name not in before:
            continue
        if isinstance(before[name], list):
            # A many-to-many field: the snapshot holds the chosen objects' names, sorted;
            # the post holds primary keys. Compare names, and show them, not "[]".
            chosen = getattr(form, "cleaned_data", {}).get(name)
            mine = sorted(str(o) for o in chosen) if chosen is not None else form.data.getlist(name)
            if before[name] != mine:
                rows.append((field.label or name, ", ".join(before[name]), ", ".join(mine)))
            continue
        mine = form.data.getlist(name) if hasattr(form.data, "getlist") and len(form.data.getlist(name)) > 1 \
            else form.data.get(name, "")
        saved = before[name]
        if str(saved if saved is not None else "") != str(mine) and not (saved is False and mine in ("", None)) \
                and not (saved is True and mine == "on"):
            rows.append((field.label or name, saved, mine))
    return rows


def save_with_audit(form, before: dict | None, *, object_type: str | None = None, on_saved=None):
    """Save a valid ModelForm and record create/update (nothing if unchanged). on_saved(obj,
    before) runs in the same transaction, so what it writes (the apply it asks for) is
    committed with the change or not at all."""
    with transaction.atomic():
        obj = form.save()
        audit.record("create" if before is None else "update", obj, before=before,
                     after=audit.snapshot(obj), object_type=object_type)
        if on_saved:
            on_saved(obj, before)
    return obj


def delete_with_audit(obj) -> None:
    """Delete `obj` with its audit entry (the values it had), in one transaction."""
    with transaction.atomic():
        audit.record("delete", obj, before=audit.snapshot(obj))
        obj.delete()


def edit_page(request, *, form_class, instance, template: str, context: dict | None = None,
              success_url=None, object_type: str | None = None, form_kwargs: dict | None = None,
              on_saved=None):
    """GET shows the form; POST validates, saves with audit and redirects.

    The snapshot is taken before the form is bound, because validating a
    ModelForm writes the submitted values onto the instance.
    """
    before = audit.snapshot(instance) if instance.pk else None
    form_kwargs = form_kwargs or {}
    fields = list(form_class.base_fields)
    version = version_of(before, fields)
    newer: list = []
    if request.method == "POST":
        form = form_class(request.POST, instance=instance, **form_kwargs)
        posted = request.POST.get("_version")
        if before is not None and posted is not None and posted != version:
            # Optimistic locking: validate for the messages, save nothing, show theirs.
            form.is_valid()
            newer = _newer_values(form, before)
            form.add_error(None, STALE)  # shown once, above the form, not also as a message
        elif form.is_valid():
            obj = save_with_audit(form, before, object_type=object_type, on_saved=on_saved)
            messages.success(request, f"Saved {obj}.")
            return redirect(success_url(obj) if callable(success_url) else (success_url or request.path))
        else:
            messages.error(request, "Nothing was saved: correct the fields marked below.")
    else:
        form = form_class(instance=instance, **form_kwargs)
    return render(request, template, {"form": form, "object": instance, "version": version, "newer": newer,
                                      **(context or {})})


def redisplay_page(request, form, *, instance, template: str, partial: str, context: dict | None = None):
    """A form drawn again without saving (another choice changes which fields it shows): the
    page, or for HTMX the partial. A redrawn post keeps the version the form was first
    shown with, so a save from it is still refused if someone saved in between."""
    before = audit.snapshot(instance) if instance.pk else None
    version = request.POST.get("_version") if request.method == "POST" else None
    context = {"form": form, "object": instance, "newer": [], **(context or {}),
               "version": version if version is not None else version_of(before, list(type(form).base_fields))}
    return page_or_partial(request, template, partial, context)
