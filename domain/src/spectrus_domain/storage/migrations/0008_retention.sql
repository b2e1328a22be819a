-- How long a guild keeps its messages (NULL: forever). Older ones, and their files, are
-- purged by the API processes' housekeeping.
ALTER TABLE guilds ADD COLUMN message_retention_days integer
    CHECK (message_retention_days BETWEEN 1 AND 36500);
CREATE INDEX guilds_retention ON guilds (id) WHERE message_retention_days IS NOT NULL;
