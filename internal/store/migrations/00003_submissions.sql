-- +goose Up
-- Citizens' drafts and submissions. Answers are special-category health
-- data (GDPR Art. 9): file contents are stored encrypted (AES-256-GCM,
-- envelope keys, internal/crypto), tokens only as SHA-256 hashes.

-- Every form definition a submission was made with, kept so the back office
-- can show a submission exactly as its form was.
CREATE TABLE form_definition (
    form_id    text NOT NULL,
    hash       text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    version    integer NOT NULL,
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (form_id, hash)
);

CREATE TABLE submission (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id         bigint NOT NULL REFERENCES office (id),
    service_slug      text NOT NULL,
    form_id           text NOT NULL,
    form_version      integer NOT NULL,
    form_hash         text NOT NULL,
    locale            text NOT NULL,
    reference         text NOT NULL UNIQUE
                      CHECK (reference ~ '^[A-Z]{3}-[0-9]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$'),
    access_token_hash bytea NOT NULL UNIQUE,
    -- The draft it came from: a repeated submit of one draft finds this row
    -- instead of creating a second submission.
    draft_id          bigint NOT NULL UNIQUE,
    status            text NOT NULL DEFAULT 'eingegangen',
    data              jsonb NOT NULL,
    record_sha256     bytea NOT NULL,
    submitted_at      timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (form_id, form_hash) REFERENCES form_definition (form_id, hash)
);
CREATE INDEX submission_office_received ON submission (office_id, submitted_at DESC, id DESC);
CREATE INDEX submission_office_status ON submission (office_id, status, submitted_at DESC, id DESC);

CREATE TABLE attachment (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id bigint NOT NULL REFERENCES submission (id) ON DELETE CASCADE,
    office_id     bigint NOT NULL REFERENCES office (id),
    field_id      text NOT NULL,
    name          text NOT NULL,
    media_type    text NOT NULL,
    size          bigint NOT NULL CHECK (size > 0),
    sha256        bytea NOT NULL,
    content       bytea NOT NULL, -- sealed (internal/crypto), bound to office, field and sha256
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachment_submission ON attachment (submission_id);

-- What happened to a submission, in order. citizen_visible events make the
-- status page.
CREATE TABLE case_event (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id   bigint NOT NULL REFERENCES submission (id) ON DELETE CASCADE,
    office_id       bigint NOT NULL REFERENCES office (id),
    kind            text NOT NULL,
    status          text NOT NULL DEFAULT '',
    citizen_visible boolean NOT NULL DEFAULT true,
    message         text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_event_submission ON case_event (submission_id, at, id);

-- A form being filled in. The citizen holds the token (cookie, resume
-- link); the row holds its hash. After submit the answers are emptied,
-- submission_id set and the draft expires within minutes: long enough for
-- a repeated submit (a double click) to find the same receipt.
CREATE TABLE draft (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,
    office_id     bigint NOT NULL REFERENCES office (id) ON DELETE CASCADE,
    service_slug  text NOT NULL,
    form_id       text NOT NULL,
    answers       jsonb NOT NULL,
    submission_id bigint REFERENCES submission (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX draft_expires ON draft (expires_at);

CREATE TABLE draft_file (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    draft_id   bigint NOT NULL REFERENCES draft (id) ON DELETE CASCADE,
    field_id   text NOT NULL,
    name       text NOT NULL,
    media_type text NOT NULL,
    size       bigint NOT NULL CHECK (size > 0),
    sha256     bytea NOT NULL,
    content    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX draft_file_draft ON draft_file (draft_id);

-- +goose Down
DROP TABLE draft_file;
DROP TABLE draft;
DROP TABLE case_event;
DROP TABLE attachment;
DROP TABLE submission;
DROP TABLE form_definition;
