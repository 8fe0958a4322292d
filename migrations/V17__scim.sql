-- SCIM 2.0 (RFC 7643 §3.1): the identifier a provisioning client (Entra ID, Okta) keeps for each
-- user and group, stored and returned as sent, and found by `externalId eq "…"`.
ALTER TABLE users ADD COLUMN external_id text;
ALTER TABLE groups ADD COLUMN external_id text;
CREATE INDEX users_external_id_idx ON users (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_external_id_idx ON groups (external_id) WHERE external_id IS NOT NULL;

-- A change of it is a change an administrator sees: the user's revision follows it.
CREATE OR REPLACE FUNCTION authd_bump_user_revision() RETURNS trigger AS $$
BEGIN
    IF (NEW.username, NEW.email, NEW.password_hash, NEW.email_verified_at, NEW.disabled_at,
        NEW.pop_public_key, NEW.external_id)
       IS DISTINCT FROM
       (OLD.username, OLD.email, OLD.password_hash, OLD.email_verified_at, OLD.disabled_at,
        OLD.pop_public_key, OLD.external_id) THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
