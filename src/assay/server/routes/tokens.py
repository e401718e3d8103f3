"""``/v1/tokens``: the API tokens (admin scope); a new token's secret is answered once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from assay.app import parse_until
from assay.server.deps import Admin, App
from assay.server.errors import ERROR_RESPONSES
from assay.store.tokens import Scope

__all__ = ["router"]

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)


class TokenRequest(BaseModel):
    """A token to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scope: Scope
    expires: str | None = Field(
        default=None, description="30d, 12h, YYYY-MM-DD or an ISO date-time; none: never"
    )


@router.get("", summary="Every token (never its secret)")
def list_tokens(assay: App, _caller: Admin) -> list[dict[str, Any]]:
    return [entry.as_dict() for entry in assay.tokens.list()]


@router.post("", status_code=201, summary="Create a token; its secret is in `token`, once")
def create_token(body: TokenRequest, assay: App, _caller: Admin) -> dict[str, Any]:
    expires = parse_until(body.expires, option="expires") if body.expires else None
    entry, secret = assay.tokens.create(body.name, body.scope, expires_at=expires)
    return {**entry.as_dict(), "token": secret}


@router.delete("/{name}", summary="Revoke a token at once")
def revoke_token(name: str, assay: App, _caller: Admin) -> dict[str, Any]:
    return assay.tokens.revoke(name).as_dict()
