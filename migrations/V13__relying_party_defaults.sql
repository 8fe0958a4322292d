-- What real relying parties need on their defaults (see docs/authorization-code-flow.md):
-- - pkce_policy: whether a confidential client's requests may rely on an OpenID Connect nonce
--   instead of PKCE; NULL follows the server's AUTHD_PKCE_POLICY.
-- - allowed_origins: the browser origins that may call the token, revocation and userinfo
--   endpoints; empty means the origins of the redirect URIs.
-- - verified: an operator vouches for the client's name. Clients made before this column were
--   made by an operator or by dynamic registration; they keep being shown as before (verified),
--   and new dynamic registrations start unverified.
-- - application_type: OpenID Connect Dynamic Registration §2; native apps may return through a
--   private-use URI scheme (RFC 8252 §7.1).
ALTER TABLE clients
    ADD COLUMN pkce_policy text CHECK (pkce_policy IN ('required', 'nonce-allowed')),
    ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}',
    ADD COLUMN verified boolean NOT NULL DEFAULT true,
    ADD COLUMN application_type text NOT NULL DEFAULT 'web'
        CHECK (application_type IN ('web', 'native'));
