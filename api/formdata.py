"""The pages' ModelForms as JSON resources: the API validates and saves with the same form
as the page, so a rule and its message are written once (virtualservers/forms.py,
lbadmin/forms.py), and it saves through the same door (lbadmin.editing: audit entry,
optimistic locking by `version`).

A body names only the fields it changes: the form is bound with the saved values (or a new
object's defaults) and the body on top, so PATCH and POST both validate a whole object.
JSON null means blank. The schemas are derived from the form's fields, so the OpenAPI
document lists the same fields and choices as the page.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from django import forms
from django.db import models
from ninja import Schema
from pydantic import Field, create_model

from lbadmin import audit
from lbadmin.editing import save_with_audit, version_of

STALE = ("Nothing was saved: someone else saved this since you read it (your version is not the current one). "
         "'current' holds what is saved now; send your change again with its version.")
INVALID = "Nothing was saved: correct the fields named in 'errors'."


class ApiError(Exception):
    """An answer other than success, with its JSON body (api.main turns it into the response)."""

    def __init__(self, status: int, body: dict):
        super().__init__(body.get("detail", ""))
        self.status, self.body = status, body


# A primary key: a larger number would reach the database and overflow there (SQLite's
# INTEGER is 64-bit) before the form could call it an unknown choice.
ObjectId = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _choice_values(field_: forms.ChoiceField) -> list:
    values = []
    for value, label in field_.choices:
        if isinstance(label, (list, tuple)):  # an optgroup
            values.extend(v for v, _ in label)
        else:
            values.append(value)
    return [v for v in values if v not in ("", None)]


def json_type(field_: forms.Field, *, strict: bool) -> Any:
    """The JSON type of a form field's value; `strict` (input) lists a choice's values."""
    if isinstance(field_, forms.ModelMultipleChoiceField):
        return list[ObjectId]
    if isinstance(field_, forms.ModelChoiceField):
        return ObjectId
    if isinstance(field_, forms.ChoiceField):
        values = _choice_values(field_)
        numbers = bool(values) and all(isinstance(v, int) for v in values)
        item = Literal[tuple(values)] if strict and values else (int if numbers else str)
        return list[item] if isinstance(field_, forms.MultipleChoiceField) else item
    if isinstance(field_, forms.BooleanField):
        return bool
    if isinstance(field_, (forms.FloatField, forms.DecimalField)):
        return float
    if isinstance(field_, forms.IntegerField):
        return int
    return str


def _describe(field_: forms.Field) -> str:
    label = str(field_.label or "")
    help_text = str(field_.help_text or "")
    return f"{label}. {help_text}".strip(". ") if help_text else label


def input_schema(name: str, fields: dict[str, forms.Field]) -> type[Schema]:
    definitions: dict[str, Any] = {
        n: (Optional[json_type(f, strict=True)], Field(None, description=_describe(f))) for n, f in fields.items()}
    definitions["version"] = (Optional[str], Field(
        None, description="The version you read (GET): a save over a newer one is refused with 409."))
    return create_model(name, __base__=Schema, **definitions)


def output_schema(name: str, fields: dict[str, forms.Field], extra: dict[str, Any]) -> type[Schema]:
    definitions: dict[str, Any] = {"id": (int, ...), "version": (str, Field(
        ..., description="Send it back with a change: a change made over a newer version is refused (409)."))}
    definitions.update((n, (Optional[json_type(f, strict=False)], None)) for n, f in fields.items())
    definitions.update((n, (Optional[t], None)) for n, t in extra.items())
    return create_model(name, __base__=Schema, **definitions)


def current_values(form: forms.BaseForm) -> dict[str, Any]:
    """What the (unbound) form would show, as it would post it."""
    values = {name: form[name].value() for name in form.fields}
    values.update(getattr(form, "kept", {}))  # HealthCheckForm: the other check types' fields
    return values


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    """Field name -> messages ("__all__": the form's own), as the page shows them."""
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


@dataclass
class FormResource:
    """One kind of object the API reads and writes through its page's form."""

    form_class: type[forms.ModelForm]
    name: str
    extra_out: dict[str, Any] = field(default_factory=dict)  # read-only fields: name -> type
    extra_values: Callable[[models.Model], dict] = lambda obj: {}
    form_kwargs: Callable[[models.Model], dict] = lambda obj: {}
    creation_fields: dict[str, forms.Field] = field(default_factory=dict)  # only a new object's form has them
    object_type: str | None = None

    def __post_init__(self):
        fields = dict(self.form_class.base_fields)
        self.In = input_schema(f"{self.name}In", {**fields, **self.creation_fields})
        self.Out = output_schema(f"{self.name}Out", fields, self.extra_out)

    def version(self, obj: models.Model) -> str:
        return version_of(audit.snapshot(obj) if obj.pk else None, list(self.form_class.base_fields))

    def out(self, obj: models.Model) -> dict:
        values = current_values(self.form_class(instance=obj, **self.form_kwargs(obj)))
        values = {name: values.get(name) for name in self.form_class.base_fields}
        return {"id": obj.pk, "version": self.version(obj), **values, **self.extra_values(obj)}

    def save(self, instance: models.Model, payload: Schema, *, on_saved=None) -> models.Model:
        """Validate with the form, refuse a stale version (409) or invalid values (422),
        else save with its audit entry; the saved object."""
        data = payload.dict(exclude_unset=True)
        sent_version = data.pop("version", None)
        before = audit.snapshot(instance) if instance.pk else None
        if before is not None and sent_version is not None and sent_version != self.version(instance):
            raise ApiError(409, {"detail": STALE, "current": self.out(instance)})
        kwargs = self.form_kwargs(instance)
        bound_data = {k: v for k, v in current_values(self.form_class(instance=instance, **kwargs)).items()
                      if v is not None}
        bound_data.update(data)
        form = self.form_class({k: "" if v is None else v for k, v in bound_data.items()}, instance=instance, **kwargs)
        if not form.is_valid():
            raise ApiError(422, {"detail": INVALID, "errors": form_errors(form)})
        return save_with_audit(form, before, object_type=self.object_type, on_saved=on_saved)
