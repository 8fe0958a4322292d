-- Upstream identity providers (OpenID Connect, or plain OAuth 2.0 with a userinfo endpoint) a
-- person may log in with, and the identities they vouch for.

CREATE TABLE upstreams (
    id                     text        PRIMARY KEY,
    name                   text        NOT NULL,
    kind                   text        NOT NULL CHECK (kind IN ('oidc', 'oauth2')),
    -- OpenID Connect: the issuer, compared exactly with each ID token's `iss` and the callback's
    -- RFC 9207 `iss`. Plain OAuth 2.0: the provider's name for itself, if it has one.
    issuer                 text,
    authorization_endpoint text        NOT NULL,
    token_endpoint         text        NOT NULL,
    userinfo_endpoint      text,
    jwks_uri               text,
    -- The algorithms its ID tokens may be signed with (asymmetric only).
    algorithms             text[]      NOT NULL DEFAULT '{}',
    -- The discovery document said `authorization_response_iss_parameter_supported`.
    iss_parameter          boolean     NOT NULL DEFAULT false,
    client_id              text        NOT NULL,
    -- The client secret authd authenticates with at the token endpoint, sealed under the
    -- master key named (the upstream's id as associated data).
    client_secret          bytea       NOT NULL,
    client_secret_nonce    bytea       NOT NULL CHECK (length(client_secret_nonce) = 12),
    master_key_id          text        NOT NULL,
    scopes                 text        NOT NULL,
    -- Where the subject, username, email, email_verified and name are in the claims (plain
    -- OAuth 2.0 providers name them their own way: GitHub's `id`, `login`).
    claims                 jsonb       NOT NULL DEFAULT '{}',
    -- `jit`: a first login creates the user; `existing`: only users already linked (or linked
    -- by a trusted, verified address) may log in.
    provisioning           text        NOT NULL DEFAULT 'jit'
                                       CHECK (provisioning IN ('jit', 'existing')),
    -- Whether a verified address from this upstream may sign in as the local user who has it.
    trust_email            boolean     NOT NULL DEFAULT false,
    -- Whether a local account's second factor is asked after this upstream's login.
    require_second_factor  boolean     NOT NULL DEFAULT false,
    enabled                boolean     NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL,
    revision               bigint      NOT NULL DEFAULT 1
);
CREATE TRIGGER upstreams_revision BEFORE UPDATE ON upstreams
    FOR EACH ROW EXECUTE FUNCTION authd_bump_revision();

-- A federated identity is the pair (upstream, the upstream's subject): never an address.
CREATE TABLE federated_identities (
    upstream_id   text        NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    subject       text        NOT NULL,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the upstream last said, for the profile page.
    username      text,
    email         text,
    linked_at     timestamptz NOT NULL,
    last_login_at timestamptz,
    PRIMARY KEY (upstream_id, subject),
    -- One identity of each upstream per user: a second would make "which one" ambiguous.
    UNIQUE (upstream_id, user_id)
);
CREATE INDEX federated_identities_user_idx ON federated_identities (user_id);
