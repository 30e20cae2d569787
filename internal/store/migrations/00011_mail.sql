-- +goose Up
-- What notification mails need: the citizen's address from the form, and
-- the access token of the status page sealed with PORTAL_ENCRYPTION_KEY
-- (only its hash opens the page; the sealed copy lets a later mail link
-- to it). dev_mail is the development mailbox (/dev/mail).
ALTER TABLE submission
    ADD COLUMN contact_email       text NOT NULL DEFAULT '',
    ADD COLUMN access_token_sealed bytea;

CREATE TABLE dev_mail (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    sender    text NOT NULL,
    recipient text NOT NULL,
    message   bytea NOT NULL
);

-- +goose Down
DROP TABLE dev_mail;
ALTER TABLE submission DROP COLUMN access_token_sealed, DROP COLUMN contact_email;
