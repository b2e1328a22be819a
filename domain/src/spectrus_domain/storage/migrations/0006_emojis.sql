CREATE TABLE emojis (
    id            bigint PRIMARY KEY,
    guild_id      bigint NOT NULL REFERENCES guilds ON DELETE CASCADE,
    name          text NOT NULL,
    animated      boolean NOT NULL DEFAULT false,
    role_ids      bigint[] NOT NULL DEFAULT '{}',  -- empty: everyone may use it
    user_id       bigint REFERENCES users ON DELETE SET NULL,  -- who uploaded it
    content_type  text NOT NULL,
    file_key      text NOT NULL
);
CREATE INDEX emojis_guild ON emojis (guild_id, id);

CREATE FUNCTION emojis_forget_files() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_deletions (key) SELECT file_key FROM gone
    ON CONFLICT (key) DO UPDATE SET not_before = '-infinity';
    RETURN NULL;
END $$;
CREATE TRIGGER emojis_forget_files AFTER DELETE ON emojis
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION emojis_forget_files();
