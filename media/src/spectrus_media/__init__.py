"""Spectrus media node: voice sessions over the Rust packet router (``spectrus_media_native``)."""
