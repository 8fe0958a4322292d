-- Proof of possession.
-- The RSA public key (SubjectPublicKeyInfo PEM) a user signs `nonce || token` with; its RFC 7638
-- thumbprint is what PoP tokens are bound to, so replacing the key unbinds every such token.
ALTER TABLE users ADD COLUMN pop_public_key text;

-- The DPoP key (RFC 7638 thumbprint) a session's refresh tokens are bound to (RFC 9449 §5), if any.
ALTER TABLE refresh_families ADD COLUMN dpop_jkt text;

-- A small per-user document behind the protected resource `/api/profile`.
CREATE TABLE profiles (
    user_id      uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    display_name text,
    phone        text,
    updated_at   timestamptz NOT NULL
);
