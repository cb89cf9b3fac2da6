"""The one way configuration is saved from a form: validated, in one
transaction, with an audit entry holding the values before and after."""
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from . import audit


def save_with_audit(form, before: dict | None, *, object_type: str | None = None):
    """Save a valid ModelForm and record create/update (nothing if unchanged)."""
    with transaction.atomic():
        obj = form.save()
        audit.record("create" if before is None else "update", obj, before=before,
                     after=audit.snapshot(obj), object_type=object_type)
    return obj


def edit_page(request, *, form_class, instance, template: str, context: dict | None = None,
              success_url=None, object_type: str | None = None, form_kwargs: dict | None = None,
              on_saved=None):
    """GET shows the form; POST validates, saves with audit and redirects.

    The snapshot is taken before the form is bound, because validating a
    ModelForm writes the submitted values onto the instance.
    """
    before = audit.snapshot(instance) if instance.pk else None
    form_kwargs = form_kwargs or {}
    if request.method == "POST":
        form = form_class(request.POST, instance=instance, **form_kwargs)
        if form.is_valid():
            obj = save_with_audit(form, before, object_type=object_type)
            if on_saved:
                on_saved(obj, before)
            messages.success(request, f"Saved {obj}.")
            return redirect(success_url(obj) if callable(success_url) else (success_url or request.path))
        messages.error(request, "Nothing was saved: correct the fields marked below.")
    else:
        form = form_class(instance=instance, **form_kwargs)
    return render(request, template, {"form": form, "object": instance, **(context or {})})
