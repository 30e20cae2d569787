-- +goose Up
-- Messages sent through the feedback form of the accessibility statement
-- (Feedback-Mechanismus, § 12b BGG / BITV 2.0). Contact is optional.
CREATE TABLE accessibility_feedback (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    lang       text NOT NULL,
    page       text NOT NULL DEFAULT '',
    message    text NOT NULL CHECK (message <> '' AND length(message) <= 5000),
    name       text NOT NULL DEFAULT '',
    email      text NOT NULL DEFAULT ''
);
CREATE INDEX accessibility_feedback_created ON accessibility_feedback (created_at);

-- Key-value state of fiber middleware (rate-limit windows), shared by all
-- portal processes. Schema as gofiber/storage/postgres expects it; keys are
-- HMACs, never client addresses.
CREATE TABLE fiber_storage (
    k varchar(64) PRIMARY KEY NOT NULL DEFAULT '',
    v bytea NOT NULL,
    e bigint NOT NULL DEFAULT '0'
);
CREATE INDEX fiber_storage_e ON fiber_storage (e);

-- +goose Down
DROP TABLE fiber_storage;
DROP TABLE accessibility_feedback;
