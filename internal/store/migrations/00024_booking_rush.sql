-- +goose Up
-- Rush mode (docs/booking.md#rush-mode): a service of an office whose
-- holds went over the threshold queues its new visitors. One row per
-- office and service, reused: a rush that is over is replaced by the
-- next with a new number (rush), so the tickets of the old one mean
-- nothing. Admission is arithmetic on the row: ticket n is in once
-- floor((now - started_at) * admit_rate) >= n.
CREATE SEQUENCE booking_rush_seq;

CREATE TABLE booking_rush (
    office_id bigint NOT NULL REFERENCES office (id) ON DELETE CASCADE,
    service_slug text NOT NULL REFERENCES service (slug),
    rush bigint NOT NULL UNIQUE DEFAULT nextval('booking_rush_seq'),
    started_at timestamptz NOT NULL,
    until timestamptz NOT NULL,
    admit_rate double precision NOT NULL CHECK (admit_rate > 0), -- visitors admitted per second
    issued bigint NOT NULL DEFAULT 0 CHECK (issued >= 0),        -- the last ticket number given out
    PRIMARY KEY (office_id, service_slug)
);

-- The ticket of a client address in a rush: the keyed hash of the
-- address (never the address), so an address gets one place however
-- many sessions it opens.
CREATE TABLE booking_rush_ticket (
    rush bigint NOT NULL,
    client bytea NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (rush, client)
);

-- +goose Down
DROP TABLE booking_rush_ticket;
DROP TABLE booking_rush;
DROP SEQUENCE booking_rush_seq;
