-- Where each person stopped reading each channel. Mention counts are computed from the
-- messages after that point when asked, so a mention of @everyone costs no writes.
CREATE TABLE read_states (
    user_id         bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    channel_id      bigint NOT NULL REFERENCES channels ON DELETE CASCADE,
    last_message_id bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel_id)
);

CREATE INDEX messages_mentions ON messages USING gin (mention_ids);
