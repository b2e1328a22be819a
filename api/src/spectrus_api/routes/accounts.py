"""Accounts: register, login, tokens and sessions, the current user, applications and bots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, Field, model_validator

from spectrus_api.deps import Auth, Ctx, CurrentActor, Person, Reason
from spectrus_api.ratelimit import RateLimitedRoute, limit
from spectrus_api.validation import (
    Body,
    Permissions,
    Snowflake,
    SnowflakePath,
    SnowflakeQuery,
    Text,
)
from spectrus_domain import limits, queries, shapes, views
from spectrus_domain.actions import applications, auth, dms, guilds
from spectrus_domain.errors import DomainError, Error

router = APIRouter(route_class=RateLimitedRoute, tags=["accounts"])


def _client_info(request: Request) -> str:
    agent = request.headers.get("user-agent", "")
    return "".join(ch for ch in agent if ch.isprintable())[:200]


def _username(value: str) -> str:
    if not limits.USERNAME_PATTERN.match(value):
        raise ValueError(
            "Username can only contain lowercase letters, digits, '_' and '.' (no '..')"
        )
    return value


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("Not a well formed email address.")
    return value


Username = Annotated[str, Text(limits.USERNAME_MAX, limits.USERNAME_MIN), AfterValidator(_username)]
Email = Annotated[str, Text(limits.EMAIL_MAX, 3), AfterValidator(_email)]


class Register(Body):
    username: Username
    password: Annotated[str, Text(limits.PASSWORD_MAX, limits.PASSWORD_MIN)]
    global_name: Annotated[str, Text(limits.GLOBAL_NAME_MAX, 1)] | None = None
    email: Email | None = None


class Login(Body):
    login: Annotated[str, Text(limits.EMAIL_MAX, 1)] | None = None
    username: Annotated[str, Text(limits.EMAIL_MAX, 1)] | None = None
    password: Annotated[str, Text(limits.PASSWORD_MAX, 1)]

    @model_validator(mode="after")
    def _one_login(self) -> Login:
        if not (self.login or self.username):
            raise ValueError("login is required")
        return self


class Refresh(Body):
    refresh_token: Annotated[str, Text(512, 1)]


@router.post("/auth/register", status_code=201)
@limit("auth.register", 5, 60)
async def register(body: Register, request: Request, ctx: Ctx) -> dict[str, Any]:
    pair = await auth.register(
        ctx,
        username=body.username,
        password=body.password,
        global_name=body.global_name,
        email=body.email,
        client_info=_client_info(request),
    )
    return pair.body()


@router.post("/auth/login")
@limit("auth.login", 10, 60)
async def login(body: Login, request: Request, ctx: Ctx) -> dict[str, Any]:
    pair = await auth.login(
        ctx,
        login=body.login or body.username or "",
        password=body.password,
        client_info=_client_info(request),
    )
    return {**pair.body(), "user_settings": {"locale": "en-US", "theme": "dark"}}


@router.post("/auth/refresh")
@limit("auth.refresh", 10, 60)
async def refresh(body: Refresh, ctx: Ctx) -> dict[str, Any]:
    return (await auth.refresh(ctx, body.refresh_token)).body()


@router.post("/auth/logout", status_code=204)
async def logout(who: Auth, ctx: Ctx) -> Response:
    if who.kind != "session":
        raise DomainError(Error.INVALID_ACCOUNT_TYPE)  # bot tokens are reset, not logged out
    await auth.logout(ctx, who.token_id)
    return Response(status_code=204)


@router.get("/auth/sessions")
async def sessions(who: Auth, ctx: Ctx) -> dict[str, Any]:
    return {"user_sessions": await auth.list_sessions(ctx, who.actor, who.token_id)}


class SessionLogout(Body):
    session_ids: Annotated[list[Snowflake], Field(max_length=100)]


@router.post("/auth/sessions/logout", status_code=204)
async def sessions_logout(body: SessionLogout, actor: Person, ctx: Ctx) -> Response:
    await auth.revoke_sessions(ctx, actor, body.session_ids)
    return Response(status_code=204)


# --- users ----------------------------------------------------------------------------


@router.get("/users/@me")
async def me(actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    return shapes.current_user(await queries.user_row(ctx.db.pool, actor.user_id))


class ProfilePatch(Body):
    username: Username | None = None
    global_name: Annotated[str, Text(limits.GLOBAL_NAME_MAX)] | None = None
    password: Annotated[str, Text(limits.PASSWORD_MAX, 1)] | None = None
    new_password: Annotated[str, Text(limits.PASSWORD_MAX, limits.PASSWORD_MIN)] | None = None


@router.patch("/users/@me")
@limit("users.patch", 5, 10)
async def modify_me(
    body: ProfilePatch, request: Request, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, include={"username", "global_name"})
    if changes.get("username") is None:
        changes.pop("username", None)
    if changes.get("global_name") == "":
        changes["global_name"] = None
    data = await auth.update_profile(ctx, actor, changes)
    if body.new_password is not None:
        if actor.bot:
            raise DomainError(Error.INVALID_ACCOUNT_TYPE)
        pair = await auth.change_password(
            ctx,
            actor,
            password=body.password or "",
            new_password=body.new_password,
            client_info=_client_info(request),
        )
        data = {**data, "token": pair.token, "refresh_token": pair.refresh_token}
    return data


@router.get("/users/@me/guilds")
async def my_guilds(
    actor: CurrentActor,
    ctx: Ctx,
    before: SnowflakeQuery = None,
    after: SnowflakeQuery = None,
    limit: Annotated[int, Query(ge=1, le=limits.GUILD_PAGE_MAX)] = limits.GUILD_PAGE_MAX,
    with_counts: bool = False,
) -> list[dict[str, Any]]:
    return await views.my_guilds(
        ctx, actor, before=before, after=after, limit=limit, with_counts=with_counts
    )


@router.get("/users/@me/guilds/{guild_id}/member")
async def my_member(guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    return await views.member(ctx, actor, guild_id, actor.user_id)


@router.delete("/users/@me/guilds/{guild_id}", status_code=204)
async def leave_guild(guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx) -> Response:
    await guilds.leave_guild(ctx, actor, guild_id)
    return Response(status_code=204)


@router.get("/users/@me/channels")
async def my_channels(actor: CurrentActor, ctx: Ctx) -> list[dict[str, Any]]:
    return await dms.list_private_channels(ctx, actor)


class OpenDM(Body):
    recipient_id: Snowflake | None = None
    recipients: list[Snowflake] | None = None
    name: Annotated[str, Text(100)] | None = None

    @model_validator(mode="after")
    def _one(self) -> OpenDM:
        if self.recipient_id is None and not self.recipients:
            raise ValueError("recipient_id or recipients is required")
        if self.recipients is not None and len(self.recipients) > limits.GROUP_DM_RECIPIENTS:
            raise ValueError("Too many recipients")
        return self


@router.post("/users/@me/channels")
@limit("dm.open", 10, 10)
async def open_dm(body: OpenDM, actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    if body.recipient_id is not None:
        return await dms.open_dm(ctx, actor, body.recipient_id)
    return await dms.create_group_dm(ctx, actor, body.recipients or [], body.name)


@router.get("/users/{user_id}")
async def user(user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    del actor  # any signed-in user may look up public profiles
    return await queries.user(ctx.db.pool, user_id)


# --- applications and bots -------------------------------------------------------------


class NewApplication(Body):
    name: Annotated[str, Text(limits.APPLICATION_NAME_MAX, limits.APPLICATION_NAME_MIN)]
    description: Annotated[str, Text(limits.APPLICATION_DESCRIPTION_MAX)] = ""


@router.post("/applications", status_code=201)
@limit("applications.create", 5, 60)
async def create_application(body: NewApplication, actor: Person, ctx: Ctx) -> dict[str, Any]:
    return await applications.create_application(
        ctx, actor, name=body.name, description=body.description
    )


@router.get("/applications")
async def list_applications(actor: Person, ctx: Ctx) -> list[dict[str, Any]]:
    return await applications.list_applications(ctx, actor)


@router.get("/applications/@me")
async def application_me(actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    return await applications.current_application(ctx, actor)


@router.get("/oauth2/applications/@me")
async def oauth2_application_me(actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    return await applications.current_application(ctx, actor)


class ApplicationPatch(Body):
    name: Annotated[str, Text(limits.APPLICATION_NAME_MAX, limits.APPLICATION_NAME_MIN)] | None = (
        None
    )
    description: Annotated[str, Text(limits.APPLICATION_DESCRIPTION_MAX)] | None = None
    bot_public: bool | None = None
    flags: Annotated[int, Field(ge=0, le=(1 << 31) - 1)] | None = None


@router.patch("/applications/@me")
@limit("applications.patch", 5, 10)
async def modify_application_me(
    body: ApplicationPatch, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    app = await applications.current_application(ctx, actor)
    return await applications.modify_application(
        ctx, actor, int(app["id"]), body.model_dump(exclude_unset=True)
    )


@router.patch("/applications/{application_id}")
@limit("applications.patch", 5, 10)
async def modify_application(
    application_id: SnowflakePath, body: ApplicationPatch, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await applications.modify_application(
        ctx, actor, application_id, body.model_dump(exclude_unset=True)
    )


@router.get("/applications/{application_id}")
async def get_application(
    application_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await applications.get_application(ctx, actor, application_id)


@router.post("/applications/{application_id}/bot/reset")
@limit("applications.reset", 5, 60)
async def reset_bot_token(application_id: SnowflakePath, actor: Person, ctx: Ctx) -> dict[str, Any]:
    return {"token": await applications.reset_bot_token(ctx, actor, application_id)}


class Authorize(Body):
    guild_id: Snowflake
    permissions: Permissions | None = None
    authorize: bool = True


@router.post("/oauth2/authorize")
@limit("oauth2.authorize", 10, 60)
async def authorize(
    body: Authorize,
    actor: Person,
    ctx: Ctx,
    reason: Reason,
    client_id: Annotated[int, Query(ge=0, le=(1 << 63) - 1)],
    scope: Annotated[str, Query(max_length=200, pattern=r"^[a-z0-9. ]*$")] = "bot",
    permissions: Annotated[int | None, Query(ge=0, le=(1 << 63) - 1)] = None,
) -> dict[str, Any]:
    """Add a bot to a guild: Discord's OAuth2 ``bot`` scope, answered in one request."""
    if "bot" not in scope.split():
        raise DomainError(Error.INVALID_FORM_BODY, message="Only the bot scope is supported")
    if not body.authorize:
        return {"location": f"{ctx.settings.base_url}/oauth2/authorized?error=access_denied"}
    bits = body.permissions if body.permissions is not None else (permissions or 0)
    await applications.authorize_bot(
        ctx, actor, client_id=client_id, guild_id=body.guild_id, permissions=bits, reason=reason
    )
    return {"location": f"{ctx.settings.base_url}/oauth2/authorized"}
