-- Mail: verified addresses, single-use links sent by mail, and the outbox every durable side
-- effect (mail now; webhooks, logout tokens and security events later) leaves through.

-- When the user proved they receive mail at `email`; NULL until then, and again after a change
-- of address until the new one is confirmed (a change is only applied once confirmed).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Links mailed to a user: verify an address, reset a password, confirm a new address. Only a
-- SHA-256 of the link's random token is kept, so reading this table opens no account. A link
-- works once (`used_at`), before `expires_at`, and only for the address it was sent to.
CREATE TABLE account_links (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_links_user_idx ON account_links (user_id, purpose);
CREATE INDEX account_links_expires_idx ON account_links (expires_at);

-- The transactional outbox. A row is written in the same transaction as the change that causes
-- it, and a replica's worker delivers it: it claims due rows with FOR UPDATE SKIP LOCKED and
-- pushes `next_attempt_at` past its lease, so one replica works on a row at a time and a row
-- whose sender died is taken up again when the lease ends. The payload is sealed under the
-- master key (AES-256-GCM, the row's id as associated data): a mailed link is a secret.
CREATE TABLE outbox (
    id              uuid        PRIMARY KEY,
    topic           text        NOT NULL,
    payload         bytea       NOT NULL,
    payload_nonce   bytea       NOT NULL CHECK (length(payload_nonce) = 12),
    master_key_id   text        NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    -- Exactly one of these ends a row's life: delivered, or given up on.
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
