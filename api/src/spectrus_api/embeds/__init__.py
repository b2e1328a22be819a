"""Link previews: an SSRF-safe fetcher, an HTML metadata reader, and the worker that adds
previews to messages after they are sent."""
