-- Logout that reaches relying parties (OpenID Connect Back-Channel and Front-Channel Logout
-- 1.0), and sessions a person can recognise.

-- Where a client is told that a session of its ended: a logout token POSTed to its back
-- channel, or its front-channel page loaded in an iframe of authd's sign-out page.
ALTER TABLE clients
    ADD COLUMN backchannel_logout_uri text,
    ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false,
    ADD COLUMN frontchannel_logout_uri text,
    ADD COLUMN frontchannel_logout_session_required boolean NOT NULL DEFAULT false;

-- A client's session started from a browser's sign-in (the code flow, an approved device)
-- names that browser session: signing out of authd there ends it too. The browser and the
-- address it came from, for the person who reads the list of their sessions.
ALTER TABLE refresh_families
    ADD COLUMN parent_id uuid,
    ADD COLUMN user_agent text,
    ADD COLUMN ip inet;

CREATE INDEX refresh_families_parent_idx ON refresh_families (parent_id)
    WHERE parent_id IS NOT NULL AND revoked_at IS NULL;
