-- +goose Up
-- What notification mails need: the citizen's address from the form, and
-- the access token of the status page sealed with PORTAL_ENCRYPTION_KEY
-- (only its hash opens the page; the sealed copy lets a later mail link
-- to it). dev_mail is the development mailbox (/dev/mail).
ALTER TABLE submission
    ADD COLUMN contact_email       text NOT NULL DEFAULT '',
    ADD COLUMN access_token_sealed bytea;

-- A Rückfrage a physician asks is confidential (medical), and so are the
-- citizen's answer to it and the files sent with it: only physicians (and
-- API tokens with medical:read) read them.
ALTER TABLE case_event ADD COLUMN confidential boolean NOT NULL DEFAULT false;
ALTER TABLE attachment ADD COLUMN confidential boolean NOT NULL DEFAULT false;

-- Mails the SMTP server has accepted, by job key, written right after
-- its answer: a job run again after its process died (before River
-- recorded it done) finds its mail here and does not send it twice.
CREATE TABLE mail_sent (
    key     text PRIMARY KEY,
    sent_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dev_mail (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    sender    text NOT NULL,
    recipient text NOT NULL,
    message   bytea NOT NULL
);

-- +goose Down
DROP TABLE dev_mail;
DROP TABLE mail_sent;
ALTER TABLE attachment DROP COLUMN confidential;
ALTER TABLE case_event DROP COLUMN confidential;
ALTER TABLE submission DROP COLUMN access_token_sealed, DROP COLUMN contact_email;
