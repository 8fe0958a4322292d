-- The admin API: disabled users, revisions for conditional writes (ETag / If-Match), groups,
-- the audit trail, and webhook subscriptions.

-- A disabled user is kept, but no login opens the account and no token of theirs opens
-- anything; every lookup the domain makes leaves them out.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Revisions, bumped by the database on every change that matters to an administrator, so no
-- write path can forget to: a conditional write compares them in its WHERE clause. A login
-- (last_login_at) is not a change to the account and leaves the revision alone.
ALTER TABLE users ADD COLUMN revision bigint NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN revision bigint NOT NULL DEFAULT 1;

CREATE FUNCTION authd_bump_user_revision() RETURNS trigger AS $$
BEGIN
    IF (NEW.username, NEW.email, NEW.password_hash, NEW.email_verified_at, NEW.disabled_at,
        NEW.pop_public_key)
       IS DISTINCT FROM
       (OLD.username, OLD.email, OLD.password_hash, OLD.email_verified_at, OLD.disabled_at,
        OLD.pop_public_key) THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_revision BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION authd_bump_user_revision();

CREATE FUNCTION authd_bump_revision() RETURNS trigger AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER clients_revision BEFORE UPDATE ON clients
    FOR EACH ROW EXECUTE FUNCTION authd_bump_revision();

-- Searches by username or address prefix (the admin API's `q`), at a million users.
CREATE INDEX users_username_prefix_idx ON users (lower(username) text_pattern_ops);
CREATE INDEX users_email_prefix_idx ON users (lower(email) text_pattern_ops);

-- Groups of users. A group's name is what the `groups` claim carries; unique case-insensitively.
CREATE TABLE groups (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    revision   bigint      NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX groups_name_key ON groups (lower(name));
CREATE TRIGGER groups_revision BEFORE UPDATE ON groups
    FOR EACH ROW EXECUTE FUNCTION authd_bump_revision();

CREATE TABLE group_members (
    group_id uuid        NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

-- The audit trail: logins, token and session events, and every administrative write, with
-- who acted. Read newest first, filtered by user, client, type and time. `user_id` is not a
-- foreign key: a deleted user's trail outlives them.
CREATE TABLE audit_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    event_type  text        NOT NULL,
    user_id     uuid,
    client_id   text,
    -- Who did it: `user:<id>`, `client:<id>`, `operator` (the command line), or `anonymous`.
    actor       text        NOT NULL,
    ip          inet,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_client_idx ON audit_events (client_id, id) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_type_idx ON audit_events (event_type, id);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);

-- Webhook subscriptions. The signing secret is sealed under the master key (AES-256-GCM, the
-- subscription's id as associated data), like TOTP secrets: authd must sign with it, so it
-- cannot keep only a hash.
CREATE TABLE webhooks (
    id            uuid        PRIMARY KEY,
    url           text        NOT NULL,
    event_types   text[]      NOT NULL,
    enabled       boolean     NOT NULL DEFAULT true,
    description   text        NOT NULL DEFAULT '',
    secret        bytea       NOT NULL,
    secret_nonce  bytea       NOT NULL CHECK (length(secret_nonce) = 12),
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL,
    revision      bigint      NOT NULL DEFAULT 1
);
CREATE TRIGGER webhooks_revision BEFORE UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION authd_bump_revision();
