-- The credential refresh reads what changed since its last read (created or
-- revoked since), every few seconds, instead of every credential: at tens of
-- thousands of device tokens and sessions, reading them all each time was a
-- burst of work on the server every refresh. These indexes make the
-- "changed since" read touch only the new rows.
CREATE INDEX credentials_created_at ON credentials (created_at);
CREATE INDEX credentials_revoked_at ON credentials (revoked_at);
