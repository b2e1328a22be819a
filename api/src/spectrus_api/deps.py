"""What routes receive: the domain context, the authenticated actor, the audit reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from spectrus_api.embeds.previewer import LinkPreviewer
from spectrus_api.validation import audit_reason
from spectrus_domain.access import Actor
from spectrus_domain.actions import auth as auth_actions
from spectrus_domain.actions.auth import Authenticated
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.storage.files import FileStore

_token_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`Bot <token>` for bots; the bare token (or `Bearer <token>`) for people.",
)


# Dependencies are coroutines: FastAPI would run plain functions in a worker thread,
# a thread hop per request (and worker threads that outlive the event loop).


async def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def authenticated(
    request: Request, authorization: Annotated[str | None, Security(_token_header)] = None
) -> Authenticated:
    if not authorization:
        raise DomainError(Error.UNAUTHORIZED)
    return await auth_actions.authenticate(request.app.state.ctx, authorization)


async def actor(who: Annotated[Authenticated, Depends(authenticated)]) -> Actor:
    return who.actor


async def person(who: Annotated[Authenticated, Depends(authenticated)]) -> Actor:
    """Endpoints of Discord's client API that bots may not use."""
    if who.actor.bot:
        raise DomainError(Error.BOTS_CANNOT_USE)
    return who.actor


async def previewer(request: Request) -> LinkPreviewer | None:
    found: LinkPreviewer | None = request.app.state.previewer
    return found


async def store(request: Request) -> FileStore:
    found: FileStore = request.app.state.files
    return found


async def reason(
    x_audit_log_reason: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    return audit_reason(x_audit_log_reason)


Ctx = Annotated[Context, Depends(context)]
Auth = Annotated[Authenticated, Depends(authenticated)]
CurrentActor = Annotated[Actor, Depends(actor)]
Person = Annotated[Actor, Depends(person)]
Reason = Annotated[str | None, Depends(reason)]
Previewer = Annotated[LinkPreviewer | None, Depends(previewer)]
Store = Annotated[FileStore, Depends(store)]
