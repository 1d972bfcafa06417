-- Consent forms already submitted: each consent ticket (a sealed form
-- value) carries a random nonce that may be used once, so a submitted
-- consent page cannot be posted again to mint another code. Rows are
-- deleted once the ticket has expired. Kept in step with the other backend.
CREATE TABLE oauth_used_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
