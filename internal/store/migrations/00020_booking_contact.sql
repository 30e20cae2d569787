-- +goose Up
-- A booking's citizen and its life after the hold. Contact details come
-- with the step from held to unconfirmed (a hold that lapsed before has
-- none); the confirmation link's token
-- is a second secret, mail_token_hash, that only the mail carries: the
-- browser that chose the slot knows token_hash but not it, so only the
-- owner of the address can confirm (double opt-in). The mail token also
-- carries the links to cancel and to move a confirmed booking. sequence
-- counts the moves and the cancellation (the calendar file's SEQUENCE);
-- resends counts the confirmation mails sent again.
ALTER TABLE booking
    ADD COLUMN name            text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    ADD COLUMN email           text NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    ADD COLUMN phone           text NOT NULL DEFAULT '' CHECK (length(phone) <= 40),
    ADD COLUMN lang            text NOT NULL DEFAULT 'de' CHECK (lang ~ '^[a-z]{2}$'),
    ADD COLUMN mail_token_hash bytea UNIQUE CHECK (length(mail_token_hash) = 32),
    ADD COLUMN sequence        integer NOT NULL DEFAULT 0,
    ADD COLUMN resends         integer NOT NULL DEFAULT 0,
    ADD COLUMN confirmed_at    timestamptz,
    ADD COLUMN cancelled_at    timestamptz,
    ADD CHECK (state IN ('held', 'expired') OR email <> '');

-- The active bookings of an address, for the limit per address and
-- service (lower(email): addresses differ only in case).
CREATE INDEX booking_address ON booking (office_id, service_slug, lower(email))
    WHERE state IN ('unconfirmed', 'booked');

-- +goose Down
DROP INDEX booking_address;
ALTER TABLE booking
    DROP COLUMN name, DROP COLUMN email, DROP COLUMN phone, DROP COLUMN lang,
    DROP COLUMN mail_token_hash, DROP COLUMN sequence, DROP COLUMN resends,
    DROP COLUMN confirmed_at, DROP COLUMN cancelled_at;
