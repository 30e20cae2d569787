-- +goose Up
-- The waiting list of a calendar: citizens who found no free slot within
-- its horizon and asked to be offered one that frees. Entries are served
-- in the order they came (id). A place that frees is offered to the
-- first waiting entry as an unconfirmed booking (booking_id) made with
-- the entry's contact details: it holds the place for the offer's time,
-- and the link of the offer mail confirms it like any booking's. The
-- place goes to no one else meanwhile: the list is served strictly in
-- order. An entry ends (its row is deleted, with its contact details)
-- when its offer is confirmed, when the offer lapses unconfirmed (the
-- place goes to the next entry), when the citizen leaves the list, or
-- when the address has its appointments of the service by then.
-- token_hash is the SHA-256 of the 128-bit token of the entry's page.
-- An offer's booking is named with its office (a booking of another
-- office cannot be referenced).
CREATE UNIQUE INDEX IF NOT EXISTS booking_office_id ON booking (office_id, id);

CREATE TABLE booking_waitlist (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id    bigint NOT NULL,
    calendar_id  bigint NOT NULL,
    service_slug text NOT NULL REFERENCES service (slug),
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    email        text NOT NULL CHECK (email <> '' AND length(email) <= 254),
    phone        text NOT NULL DEFAULT '' CHECK (length(phone) <= 40),
    lang         text NOT NULL DEFAULT 'de' CHECK (lang ~ '^[a-z]{2}$'),
    state        text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'offered')),
    booking_id   bigint,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    offered_at   timestamptz,
    FOREIGN KEY (office_id, calendar_id) REFERENCES calendar (office_id, id) ON DELETE CASCADE,
    FOREIGN KEY (office_id, booking_id) REFERENCES booking (office_id, id) ON DELETE CASCADE,
    CHECK ((state = 'offered') = (booking_id IS NOT NULL))
);
-- One entry per address and calendar.
CREATE UNIQUE INDEX booking_waitlist_address ON booking_waitlist (office_id, calendar_id, lower(email));
CREATE INDEX booking_waitlist_queue ON booking_waitlist (office_id, calendar_id, id);
CREATE UNIQUE INDEX booking_waitlist_booking ON booking_waitlist (booking_id) WHERE booking_id IS NOT NULL;

-- +goose Down
DROP TABLE booking_waitlist;
DROP INDEX booking_office_id;
