-- Registered confidential clients (RFC 6749 §2.1), created with `authd clients create`.
CREATE TABLE clients (
    client_id   text        PRIMARY KEY,
    name        text        NOT NULL,
    -- SHA-256 of the secret. Secrets are 256 random bits made by authd, so a fast hash is as
    -- strong as a slow one here, and keeps client authentication cheap under load.
    secret_hash bytea       NOT NULL CHECK (length(secret_hash) = 32),
    -- The scopes this client may be granted, space-separated.
    scope       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
