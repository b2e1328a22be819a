"""Route modules, each an ``APIRouter`` mounted under ``/api/v10``."""

from spectrus_api.routes import (
    accounts,
    channels,
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
]

__all__ = ["ROUTERS", "files", "health"]
