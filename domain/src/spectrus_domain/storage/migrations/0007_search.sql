-- Full-text search of message content. The 'simple' configuration lowercases words without
-- language-specific stemming: a community writes in many languages at once. The vector is
-- stored: filtering on it is cheap whichever plan PostgreSQL picks (an expression index
-- would make every row a plan visits re-parse its content). Message reads name their
-- columns and leave it out.
CREATE EXTENSION IF NOT EXISTS btree_gin;
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, content)) STORED;
-- One index answers "these words in this guild" (btree_gin puts guild_id beside the words).
CREATE INDEX messages_search ON messages USING gin (guild_id, search);
CREATE INDEX messages_guild ON messages (guild_id, id);
