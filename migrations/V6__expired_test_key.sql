-- The expired-token test mode (AUTHD_EXPIRED_TOKENS) signs its tokens with a key of its own:
-- stored and sealed like every other key, so the database shows it, but expired from the start,
-- never in the JWKS and never signing anything else. `purpose` tells it apart.
ALTER TABLE signing_keys
    ADD COLUMN purpose text NOT NULL DEFAULT 'signing'
        CHECK (purpose IN ('signing', 'expired_test'));

-- One such key between all replicas (they create it under the key-creation lock; this makes
-- a second one impossible however it is inserted).
CREATE UNIQUE INDEX signing_keys_one_expired_test ON signing_keys (purpose)
    WHERE purpose = 'expired_test';
