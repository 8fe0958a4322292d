-- RFC 8707: the resources a code-flow session was granted for. Its access tokens name them in
-- `aud` (a refresh may ask for fewer, never more). Empty: `AUTHD_AUDIENCE`, as before.
ALTER TABLE refresh_families ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
