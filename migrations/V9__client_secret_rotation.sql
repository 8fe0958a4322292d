-- Rotating a client's secret (`authd clients rotate-secret`) may keep the secret it replaces
-- valid for a while, so the client can be given the new one without an outage. Both columns are
-- set or neither: the hash (SHA-256, as `secret_hash`) and the moment it stops being accepted.
ALTER TABLE clients
    ADD COLUMN previous_secret_hash bytea CHECK (length(previous_secret_hash) = 32),
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD CONSTRAINT previous_secret_complete
        CHECK ((previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL));
