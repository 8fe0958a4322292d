-- The durable copy of the revocation list: a Redis flush must not un-revoke a token.
-- kind 'jti' names one access token; kind 'sid' names a session (a refresh-token family) and so
-- every access token issued within it.
CREATE TABLE revocations (
    kind       text        NOT NULL CHECK (kind IN ('jti', 'sid')),
    id         text        NOT NULL,
    -- When the revoked thing would have expired anyway: the row is useless after it.
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);
