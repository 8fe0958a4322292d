-- A session's end is told (its `session.ended` audit event, which back-channel logout, webhooks
-- and Shared Signals receivers hear from) just after the revocation commits. A revoked session
-- whose end is not recorded yet carries the time from which any replica's sweep records it:
-- the revoking replica has that long, and a sweep that takes the session moves the time on as
-- its lease. Recording the event clears it in the same transaction, so an end is told once.
-- Sessions revoked before this migration were told already: they keep NULL.
ALTER TABLE refresh_families ADD COLUMN end_record_due timestamptz;

CREATE INDEX refresh_families_end_record_due_idx ON refresh_families (end_record_due)
    WHERE end_record_due IS NOT NULL;
