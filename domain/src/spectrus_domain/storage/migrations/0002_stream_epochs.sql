-- A stream's epoch identifies one numbering of its events. It changes only when the
-- numbering restarts (a restore from backup), telling readers to resynchronise instead
-- of waiting for sequence numbers that will never come.
ALTER TABLE event_streams
    ADD COLUMN epoch bigint NOT NULL DEFAULT floor(random() * 2147483647)::bigint;
