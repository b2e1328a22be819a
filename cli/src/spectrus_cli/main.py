"""Command line: ``spectrus up``, ``api``, ``gateway``, ``media``, ``migrate``, ``backup``, ``restore``;
flags generated from Settings."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import dataclasses
import sys
from pathlib import Path
from typing import Any

from spectrus_domain import diag, logs, tracing
from spectrus_domain.config import Settings, env_name, flag_name, load_settings


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(Settings):
        kind = {"int": int, "float": float, "Path": Path}.get(str(f.type), str)
        help_text = f"{f.metadata['help']} (env {env_name(f.name)}, default {f.default!s})"
        if str(f.type) == "bool":
            parser.add_argument(
                flag_name(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
            continue
        parser.add_argument(
            flag_name(f.name),
            dest=f.name,
            type=kind,
            default=None,
            choices=f.metadata.get("choices") or None,
            help=help_text,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spectrus", description="Spectrus community server")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_setting_flags(commands.add_parser("up", help="run an instance on this machine"))
    _add_setting_flags(
        commands.add_parser("api", help="serve the REST API (PostgreSQL and Redis given)")
    )
    _add_setting_flags(
        commands.add_parser("gateway", help="serve the gateway (PostgreSQL and Redis given)")
    )
    _add_setting_flags(
        commands.add_parser("media", help="serve a media node (voice WebSocket, UDP, control)")
    )
    _add_setting_flags(commands.add_parser("migrate", help="apply database migrations and exit"))
    for name, text in (
        ("backup", "write the whole instance (database and files) to FILE"),
        ("restore", "restore a backup FILE into this instance, which must be empty"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("file", type=Path, metavar="FILE")
        _add_setting_flags(command)
    return parser


# The long-running servers; one-shot commands (migrate, backup) send no spans.
_TRACED = ("up", "api", "gateway", "media")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k not in ("command", "file")
    }
    try:
        settings = load_settings(overrides)
    except ValueError as exc:
        sys.exit(f"spectrus: {exc}")
    logs.configure(settings.log_level, settings.log_format)
    diag.install()
    if args.command in _TRACED:
        try:
            tracing.configure(f"spectrus-{args.command}")
        except ValueError as exc:
            sys.exit(f"spectrus: {exc}")
        atexit.register(tracing.shutdown)
    if args.command == "up":
        from spectrus_cli.up import up

        up(settings)
    elif args.command in ("api", "gateway", "media"):
        from spectrus_cli.services import run

        sys.exit(run(args.command, settings))
    elif args.command == "migrate":
        sys.exit(_migrate(settings))
    elif args.command in ("backup", "restore"):
        sys.exit(_backup_or_restore(args.command, settings, args.file))


def _backup_or_restore(command: str, settings: Settings, file: Path) -> int:
    from spectrus_cli import backup

    try:
        if command == "backup":
            manifest = asyncio.run(backup.backup(settings, file))
            verb = "wrote"
        else:
            manifest = asyncio.run(backup.restore(settings, file))
            verb = "restored"
    except backup.BackupError as exc:
        print(f"spectrus {command}: {exc}", file=sys.stderr)
        return 1
    size = sum(f["size"] for f in manifest["files"].values())
    print(
        f"{verb} {file}: the database (schema {manifest['migrations'][-1]}) and "
        f"{len(manifest['files'])} files ({size} bytes)"
    )
    return 0


def _migrate(settings: Settings) -> int:
    import asyncpg

    from spectrus_domain.storage import apply_migrations

    if not settings.database_url:
        print("spectrus migrate needs --database-url (spectrus up migrates its own database)")
        return 2

    async def run() -> list[int]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await apply_migrations(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    print(f"applied migrations: {applied or 'none (up to date)'}")
    return 0


if __name__ == "__main__":
    main()
