"""Spectrus domain: the framework-free core every service shares.

Ids, permissions, errors, Discord-shaped serialisers, and the actions that are the only
writers of the PostgreSQL storage. Nothing here imports a web framework.
"""
