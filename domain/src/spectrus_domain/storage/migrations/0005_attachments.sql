-- Secrets every process of the instance shares (the attachment URL signing key).
CREATE TABLE instance_secrets (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE attachments (
    id            bigint PRIMARY KEY,
    message_id    bigint NOT NULL REFERENCES messages ON DELETE CASCADE,
    channel_id    bigint NOT NULL,
    position      smallint NOT NULL,
    filename      text NOT NULL,
    description   text,
    content_type  text NOT NULL,
    size          bigint NOT NULL,
    width         integer,
    height        integer,
    file_key      text NOT NULL,  -- the bytes, in the file store
    preview_key   text            -- a reduced image (proxy_url), when the original is large
);
CREATE INDEX attachments_message ON attachments (message_id, position);

-- Files the store should no longer hold, removed by a sweeper once not_before passes:
-- those of deleted attachments at once, and every upload an hour after it started unless
-- the message that uses it committed (which deletes its row here).
CREATE TABLE file_deletions (
    key         text PRIMARY KEY,
    not_before  timestamptz NOT NULL DEFAULT '-infinity'  -- due at once
);
CREATE INDEX file_deletions_due ON file_deletions (not_before);

CREATE FUNCTION attachments_forget_files() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_deletions (key)
    SELECT k FROM gone, LATERAL (VALUES (gone.file_key), (gone.preview_key)) AS keys (k)
    WHERE k IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET not_before = '-infinity';
    RETURN NULL;
END $$;
CREATE TRIGGER attachments_forget_files AFTER DELETE ON attachments
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION attachments_forget_files();
