-- The instance's admins carry STAFF (bit 0) in users.flags: they may read /diag. An
-- instance that predates this gets its first person account as its admin, as a new
-- instance does at its first registration.
UPDATE users SET flags = flags | 1
WHERE id = (SELECT min(id) FROM users WHERE NOT bot AND NOT system)
  AND NOT EXISTS (SELECT 1 FROM users WHERE flags & 1 = 1 AND NOT bot);
