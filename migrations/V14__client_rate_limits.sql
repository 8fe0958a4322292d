-- A client's own request limit (requests per second, counted across replicas at the token,
-- introspection, revocation and PAR endpoints); NULL follows AUTHD_CLIENT_RATE_LIMIT.
ALTER TABLE clients
    ADD COLUMN rate_limit integer CHECK (rate_limit > 0);
