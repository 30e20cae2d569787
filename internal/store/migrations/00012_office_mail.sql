-- +goose Up
-- How an office hears of new submissions at its inbox address: a mail for
-- each ('each', the default), one summary a day ('daily': offices without
-- a webhook integration that want less mail), or none ('off').
ALTER TABLE office ADD COLUMN notify text NOT NULL DEFAULT 'each'
    CHECK (notify IN ('each', 'daily', 'off'));

-- Mails a receiving server refused for good (5xx), for the office admin's
-- list: the citizen's and the office's mails, and resume links of drafts
-- (no submission). Kept 90 days (retention), or until the submission goes.
CREATE TABLE mail_refusal (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id     bigint NOT NULL REFERENCES office (id) ON DELETE CASCADE,
    submission_id bigint REFERENCES submission (id) ON DELETE CASCADE,
    template      text NOT NULL,
    recipient     text NOT NULL,
    answer        text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_refusal_office ON mail_refusal (office_id, at DESC, id DESC);
CREATE INDEX mail_refusal_submission ON mail_refusal (submission_id);

-- The daily summary counts the citizens' answers of a day.
CREATE INDEX case_event_office_answer ON case_event (office_id, at) WHERE kind = 'answer';

-- +goose Down
DROP INDEX case_event_office_answer;
DROP TABLE mail_refusal;
ALTER TABLE office DROP COLUMN notify;
