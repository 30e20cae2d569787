-- +goose Up
-- An offer of appointments: staff answer a Terminanfrage case with up to
-- a few concrete slots (calendar and start) of the office, and the
-- citizen books one of them from the case's status page.
--
-- An offer holds none of its slots: a held place would block the slot
-- for everyone else for as long as the citizen takes to answer. When the
-- citizen picks a slot, the normal hold and booking path runs with its
-- capacity check in the database; a slot taken meanwhile is refused and
-- the other offered slots stay on offer. The offer closes (state
-- 'booked', booking_id) once one slot is booked, or when staff withdraw
-- it ('withdrawn'); a case has at most one open offer.
--
-- The number follows 00028: goose refuses a missing version below the
-- newest applied one, so 00026 stays unused.
CREATE UNIQUE INDEX IF NOT EXISTS submission_office_id ON submission (office_id, id);

CREATE TABLE booking_offer (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id     bigint NOT NULL REFERENCES office (id),
    submission_id bigint NOT NULL,
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'booked', 'withdrawn')),
    booking_id    bigint,
    staff_id      bigint REFERENCES staff (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    UNIQUE (office_id, id),
    FOREIGN KEY (office_id, submission_id) REFERENCES submission (office_id, id) ON DELETE CASCADE,
    FOREIGN KEY (office_id, booking_id) REFERENCES booking (office_id, id) ON DELETE SET NULL (booking_id),
    CHECK (booking_id IS NULL OR state = 'booked'),
    CHECK ((state = 'open') = (closed_at IS NULL))
);
CREATE UNIQUE INDEX booking_offer_open ON booking_offer (office_id, submission_id) WHERE state = 'open';

CREATE TABLE booking_offer_slot (
    offer_id    bigint NOT NULL,
    office_id   bigint NOT NULL,
    calendar_id bigint NOT NULL,
    starts_at   timestamptz NOT NULL,
    PRIMARY KEY (offer_id, calendar_id, starts_at),
    FOREIGN KEY (office_id, offer_id) REFERENCES booking_offer (office_id, id) ON DELETE CASCADE,
    FOREIGN KEY (office_id, calendar_id) REFERENCES calendar (office_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE booking_offer_slot;
DROP TABLE booking_offer;
DROP INDEX IF EXISTS submission_office_id;
