"""The API's reference: its OpenAPI document and a page made from it.

Owns ``/api/v1/openapi.json``'s content (built from the API's routes only,
once per app) and the HTML page of ``/api/v1/docs``, rendered here from the
document with the ``api_docs.html`` template: self-contained, no script,
nothing from a CDN.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from .rendering import fragment

DESCRIPTION = (
    "Generate images with your own account and credits from scripts and notebooks. "
    "Create a token on the Account tab (shown once) and send it as "
    "`Authorization: Bearer aic_...`. A token may generate and read the balance, "
    "nothing else; it dies when revoked, at its expiry, when you change your "
    "password, and with your account. Nothing you send is stored or logged: keep "
    "the images you get. The Python client: `aicreative.Client(url, token)`."
)
EXAMPLE = (
    "from aicreative import Client\n\n"
    'client = Client("https://your-server", "aic_...")\n'
    'result = client.generate("a lighthouse at dawn", count=2, seed=7)\n'
    "result.images[0].save('lighthouse.png'); print(result.seeds, result.balance)"
)


def openapi_document(app: FastAPI, routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` that are in the schema (built once per app)."""
    cached = getattr(app.state, "api_openapi", None)
    if cached is None:
        cached = get_openapi(
            title="AI Creative API",
            version="1",
            description=DESCRIPTION,
            routes=[route for route in routes if getattr(route, "include_in_schema", False)],
        )
        app.state.api_openapi = cached
    return cached  # type: ignore[no-any-return]


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _kind(prop: dict[str, Any]) -> str:
    """A property's type as a reader says it: "integer", "string or null", "array of X"."""
    if "$ref" in prop:
        return _ref_name(prop["$ref"])
    if "anyOf" in prop:
        return " or ".join(str(p.get("type", _ref_name(p.get("$ref", "?")))) for p in prop["anyOf"])
    kind = str(prop.get("type", ""))
    if kind == "array" and "items" in prop:
        items = prop["items"]
        kind += " of " + str(items.get("type", _ref_name(items.get("$ref", ""))))
    return kind


def schema_rows(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per field of a schema: name, required, type and notes (limits, default, text)."""
    if "$ref" in schema:
        schema = components.get(_ref_name(schema["$ref"]), {})
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        limits = ", ".join(
            f"{key} {prop[key]}"
            for key in ("minimum", "maximum", "maxLength", "pattern", "enum")
            if key in prop
        )
        default = f"default {prop['default']!r}" if "default" in prop else ""
        notes = "; ".join(x for x in (limits, default, prop.get("description", "")) if x)
        rows.append(
            {"name": name, "required": name in required, "kind": _kind(prop), "notes": notes}
        )
    return rows


def _json_schema(part: dict[str, Any]) -> dict[str, Any] | None:
    schema = part.get("content", {}).get("application/json", {}).get("schema")
    return schema if isinstance(schema, dict) else None


def render_docs(doc: dict[str, Any]) -> str:
    """The HTML reference page of an OpenAPI document."""
    components = doc.get("components", {}).get("schemas", {})
    operations = []
    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            body = _json_schema(op.get("requestBody", {}))
            ok = _json_schema(op.get("responses", {}).get("200", {}))
            operations.append(
                {
                    "title": f"{method.upper()} {path}",
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "body": schema_rows(body, components) if body is not None else None,
                    "answer": schema_rows(ok, components) if ok is not None else None,
                    "responses": op.get("responses", {}),
                }
            )
    info = doc.get("info", {})
    return str(
        fragment(
            "api_docs.html",
            title=info.get("title", "API"),
            description=info.get("description", ""),
            example=EXAMPLE,
            operations=operations,
        )
    )
