"""Actions: the only code that writes. Each runs one transaction that checks permissions,
writes rows, appends its events to the outbox (and the audit log where Discord keeps one),
and returns the Discord-shaped result."""
