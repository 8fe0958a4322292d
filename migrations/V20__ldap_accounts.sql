-- Accounts whose password lives in an LDAP directory (AUTHD_LDAP_URL). authd keeps no hash for
-- them: a login binds to the directory as the user. The entry is named by its stable id
-- (`entryUUID`, `objectGUID`), never by its username or DN, which a directory may reassign.
CREATE TABLE ldap_accounts (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    entry_id      text        NOT NULL UNIQUE,
    -- Where the entry was at the last login (for the operator; logins search by filter).
    dn            text        NOT NULL,
    -- The groups the directory put the user in at the last login: memberships authd added for
    -- the directory, and takes away when the directory does.
    groups        text[]      NOT NULL DEFAULT '{}',
    linked_at     timestamptz NOT NULL,
    last_login_at timestamptz
);
