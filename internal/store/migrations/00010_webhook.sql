-- +goose Up
-- Webhooks of an office: a Fachverfahren is told that a submission arrived
-- or changed (no personal data in the call; it reads the rest through the
-- API). The signing secret is sealed (internal/crypto). Deliveries are
-- River jobs; the last outcome is kept here for the operator.
CREATE TABLE webhook (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id       bigint NOT NULL REFERENCES office (id),
    url             text NOT NULL CHECK (url ~ '^https?://'),
    secret          bytea NOT NULL,
    events          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz,
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text
);
CREATE INDEX webhook_office ON webhook (office_id);

-- +goose Down
DROP TABLE webhook;
