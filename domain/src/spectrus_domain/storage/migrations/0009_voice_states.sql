-- Who is in which voice channel: written by the gateway (a user joins, moves, leaves or
-- goes offline) and by the API (a moderator moves or disconnects someone), each change
-- announced as VOICE_STATE_UPDATE in the guild's stream. Server mute and deafen live on
-- the member; the row holds what belongs to the connection.
CREATE TABLE voice_states (
    guild_id   bigint NOT NULL,
    user_id    bigint NOT NULL,
    channel_id bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    session_id text NOT NULL,
    self_mute  boolean NOT NULL DEFAULT false,
    self_deaf  boolean NOT NULL DEFAULT false,
    suppress   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (guild_id, user_id),
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id) ON DELETE CASCADE
);
CREATE INDEX voice_states_user ON voice_states (user_id);
CREATE INDEX voice_states_channel ON voice_states (channel_id);
