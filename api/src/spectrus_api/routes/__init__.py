"""Route modules, each an ``APIRouter`` mounted under ``/api/v10``."""

from spectrus_api.routes import (
    accounts,
    channels,
    diag,
    emojis,
    files,
    gateway,
    guilds,
    health,
    invites,
    messages,
)

ROUTERS = [
    accounts.router,
    guilds.router,
    channels.router,
    messages.router,
    emojis.router,
    invites.router,
    gateway.router,
    diag.router,
]

__all__ = ["ROUTERS", "diag", "files", "health"]
