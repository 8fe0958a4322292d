-- A second factor for interactive logins: a TOTP authenticator (RFC 6238) per user, and the
-- recovery codes that stand in for it once each.
CREATE TABLE totp_factors (
    user_id        uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The shared secret, AES-256-GCM under the master key `master_key_id` names, with the
    -- user's id as associated data (as signing keys are sealed).
    secret_ciphertext bytea    NOT NULL,
    secret_nonce   bytea       NOT NULL,
    master_key_id  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    -- NULL until the user has shown a first code: an unconfirmed factor guards nothing.
    confirmed_at   timestamptz,
    -- The last time step a code was accepted for: each code is good once (RFC 6238 §5.2).
    last_used_step bigint      NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the code: 80 random bits, so a fast hash is enough (no dictionary to try).
    code_hash  bytea       NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
