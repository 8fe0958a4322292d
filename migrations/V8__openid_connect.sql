-- OpenID Connect: a session the code flow granted a client remembers the login it continues
-- (when and how the user authenticated, and the claims the client asked for), so every ID token
-- of the session repeats the same `auth_time` and `amr` (OpenID Connect Core §12.2). A web UI
-- session remembers its own login, which the codes it gives pass on. NULL for the sessions of
-- the password grant and `/auth`, and for those started before this migration.
ALTER TABLE refresh_families ADD COLUMN login jsonb;
