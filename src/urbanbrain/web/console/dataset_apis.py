"""A dataset's display names and its suggested data APIs, on the dataset's page (stewards only).

`POST /datasets/{name}/labels` saves the names and descriptions a steward typed (both languages);
`POST /datasets/{name}/suggestions/{suggestion}/publish` releases one proposal of
`capability.suggest`, with its purpose when it looks people up by a personal field. Both call the same
service functions as the CLI and the API, so the same rules and audit apply.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from urbanbrain.capability.suggest import Suggestion, publish_suggestion, suggest_capabilities
from urbanbrain.govern.authz import allowed
from urbanbrain.govern.labels import DATASET, Label, labels_of, set_labels
from urbanbrain.govern.pii import PII_TYPES
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.schemas import DatasetPublic
from urbanbrain.web.console.render import FormFields
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()
FIELDS = ("label_zh", "label_en", "description_zh", "description_en")


def page_context(ds: DatasetPublic, principal: Principal | None) -> dict[str, Any]:
    """What the dataset page shows of names and proposals: proposals only to the owner's stewards."""
    labels: dict[str, Label] = labels_of(ds.name)
    suggestions: list[Suggestion] = []
    if principal is not None and ds.role == "data" and allowed("capability.suggest", principal, ds.department):
        suggestions = suggest_capabilities(ds.name, by=principal)
    return {"labels": labels, "dataset_label": labels[DATASET], "suggestions": suggestions, "pii_types": PII_TYPES}


@router.post("/datasets/{name}/labels")
def save_labels(name: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    """Form fields are `<field>:<column>` (`label_zh:elder_id`, `label_en:` for the dataset itself)."""
    wanted: dict[str, dict[str, str | None]] = {}
    for key, value in form.items():
        field, sep, column = key.partition(":")
        if sep and field in FIELDS:
            wanted.setdefault(column, {})[field] = value
    set_labels(name, wanted, by=principal)
    return RedirectResponse(f"/datasets/{quote(name)}#labels", status_code=303)


@router.post("/datasets/{name}/suggestions/{suggestion}/publish")
def publish(name: str, suggestion: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    cap = publish_suggestion(name, suggestion, purpose=form.get("purpose") or None, by=principal)
    return RedirectResponse(f"/capabilities/{quote(cap.name)}?version={cap.version}", status_code=303)
