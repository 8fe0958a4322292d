-- Passkeys (WebAuthn credentials): one or more per user, each named by its owner. A user with
-- a passkey may drop their password (a passkey-only account): password_hash is then NULL, and
-- no password is accepted for them at all.
CREATE TABLE passkeys (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's credential id: unique across every account (WebAuthn §7.1 step 22).
    credential_id bytea       NOT NULL UNIQUE,
    name          text        NOT NULL,
    -- webauthn-rs's `Passkey`: the public key (COSE), the signature counter, backup flags.
    credential    jsonb       NOT NULL,
    -- The counter again, as a column, so that recording a use can compare and swap it: of two
    -- assertions with one counter value, one is accepted (a cloned authenticator shows so).
    sign_count    bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
