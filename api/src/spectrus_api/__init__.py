"""Spectrus REST API: Discord API v10 paths and JSON shapes on FastAPI.

Routes validate and size-limit input, call domain views (reads) and actions (writes),
and render domain errors as Discord's error bodies. No business rule lives here.
"""
