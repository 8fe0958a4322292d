-- authd's durable state. Never edit a migration that has shipped: add V2__… instead.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL,
    email         text        NOT NULL,
    -- Argon2id PHC string; the password itself is never stored.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    last_login_at timestamptz
);
-- Uniqueness is case-insensitive: "Alice" and "alice" are one user.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE signing_keys (
    kid                    text        PRIMARY KEY,
    alg                    text        NOT NULL,
    public_jwk             jsonb       NOT NULL,
    -- AES-256-GCM of the PKCS#8 DER private key under the master key; AAD binds kid and alg.
    private_key_ciphertext bytea       NOT NULL,
    private_key_nonce      bytea       NOT NULL CHECK (length(private_key_nonce) = 12),
    master_key_id          text        NOT NULL,
    created_at             timestamptz NOT NULL,
    -- Signs in [not_before, expires_at); verifies until retire_at.
    not_before             timestamptz NOT NULL,
    expires_at             timestamptz NOT NULL,
    retire_at              timestamptz NOT NULL,
    CHECK (not_before < expires_at AND expires_at <= retire_at)
);

CREATE TABLE auth_logs (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_ip        inet        NOT NULL,
    request_timestamp timestamptz NOT NULL,
    user_id           uuid        REFERENCES users (id) ON DELETE SET NULL,
    outcome           text        NOT NULL CHECK (outcome IN ('success', 'unknown_user', 'wrong_password')),
    user_agent        text
);
CREATE INDEX auth_logs_user_id_idx ON auth_logs (user_id, request_timestamp);
CREATE INDEX auth_logs_request_timestamp_idx ON auth_logs (request_timestamp);
