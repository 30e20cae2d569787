-- +goose Up
-- API tokens for Fachverfahren: each bound to one office and to scopes,
-- kept only as a SHA-256 hash. A revoked token stays for the audit log.
CREATE TABLE api_token (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id    bigint NOT NULL REFERENCES office (id),
    name         text NOT NULL CHECK (name <> ''),
    token_hash   bytea NOT NULL UNIQUE,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_token_office ON api_token (office_id);

-- A change made through the API names its token, as a staff change names
-- its author.
ALTER TABLE case_event ADD COLUMN api_token_id bigint REFERENCES api_token (id);

-- +goose Down
ALTER TABLE case_event DROP COLUMN api_token_id;
DROP TABLE api_token;
