-- The authorization code flow (RFC 6749 §4.1): clients gain what the flow needs, public clients
-- (no secret), and users' consents.
ALTER TABLE clients
    ALTER COLUMN secret_hash DROP NOT NULL,
    -- Exact strings, compared as registered (RFC 9700 §2.1).
    ADD COLUMN redirect_uris             text[]  NOT NULL DEFAULT '{}',
    -- The clients made before this migration used the client credentials grant only.
    ADD COLUMN grant_types               text[]  NOT NULL DEFAULT '{client_credentials}',
    ADD COLUMN token_endpoint_auth_method text   NOT NULL DEFAULT 'client_secret_basic'
        CHECK (token_endpoint_auth_method IN
               ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
    -- The client's public JWK set, for private_key_jwt (RFC 7523).
    ADD COLUMN jwks                      jsonb,
    ADD COLUMN post_logout_redirect_uris text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN require_par               boolean NOT NULL DEFAULT false,
    -- A secret exactly for the secret methods; a key set for private_key_jwt.
    ADD CONSTRAINT clients_secret_matches_method CHECK (
        (secret_hash IS NOT NULL) =
        (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post'))),
    ADD CONSTRAINT clients_jwks_for_private_key_jwt CHECK (
        token_endpoint_auth_method <> 'private_key_jwt' OR jwks IS NOT NULL);

-- What each user allowed each client, so a returning user is not asked again.
CREATE TABLE consents (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      text        NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A session started by the code flow belongs to its client: revoking the user's consent ends
-- it, and deleting the client deletes it with its refresh tokens.
ALTER TABLE refresh_families
    ADD COLUMN client_id text REFERENCES clients (client_id) ON DELETE CASCADE;
CREATE INDEX refresh_families_client_idx ON refresh_families (user_id, client_id)
    WHERE client_id IS NOT NULL;
