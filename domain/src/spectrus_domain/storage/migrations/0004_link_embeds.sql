-- Previews of links in the content, kept apart from the embeds the author sent: they are
-- the server's (replaced when the content changes), the author's are the author's.
ALTER TABLE messages ADD COLUMN link_embeds jsonb NOT NULL DEFAULT '[]';
