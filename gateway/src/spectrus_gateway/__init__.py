"""Spectrus gateway: Discord gateway v10 sessions over WebSocket.

``protocol`` is the sans-I/O core (frames and time in; frames, closes and requests out).
The server shell runs it over ASGI WebSockets; fan-out follows the domain's event
streams through a bus (in-process or Redis) and keeps sessions resumable anywhere.
"""
