-- The Shared Signals Framework (SSF 1.0) transmitter: event streams that receivers (clients
-- holding the `ssf:receiver` scope) create, and the Security Event Tokens waiting for a poll.

-- One event stream. The receiver is the client that created it; deleting the client deletes
-- its streams. `aud` is what the stream's SETs carry (the receiver's client id unless it
-- asked for another at creation; it never changes after). A push stream's authorization
-- header is a credential of the receiver's, sealed under the master key like a webhook secret.
CREATE TABLE ssf_streams (
    id                   uuid PRIMARY KEY,
    client_id            text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    audience             text NOT NULL,
    delivery_method      text NOT NULL CHECK (delivery_method IN ('push', 'poll')),
    endpoint_url         text,
    authorization_header bytea,
    authorization_nonce  bytea,
    master_key_id        text,
    events_requested     text[] NOT NULL,
    status               text NOT NULL DEFAULT 'enabled'
                         CHECK (status IN ('enabled', 'paused', 'disabled')),
    reason               text,
    description          text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CHECK ((delivery_method = 'push') = (endpoint_url IS NOT NULL)),
    CHECK ((authorization_header IS NULL) = (master_key_id IS NULL))
);

CREATE INDEX ssf_streams_client_idx ON ssf_streams (client_id);

-- SETs made for a poll stream, waiting for the receiver to take and acknowledge them
-- (RFC 8936). `jti` is a UUIDv7, so ordering by it is the order they were made in. The
-- claims are kept, not a signed token: each poll signs them with the current key, so a SET
-- that waited through a key rotation still verifies against the published keys.
CREATE TABLE ssf_pending_sets (
    stream_id uuid NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    jti       uuid NOT NULL,
    claims    jsonb NOT NULL,
    queued_at timestamptz NOT NULL,
    PRIMARY KEY (stream_id, jti)
);

CREATE INDEX ssf_pending_sets_age_idx ON ssf_pending_sets (queued_at);
