-- +goose Up
-- Appointment booking. An office's calendar (a room, a team, the video
-- consultations) serves some services of the catalogue; weekly rules say
-- at which times it has slots and how many places each; closures take
-- days out, and the public holidays of the office's Land (office.state)
-- are never bookable. A booking takes one place (seat) of one slot. The
-- unique index booking_place over the bookings that hold a place is what
-- makes a double booking impossible, for any number of portal processes:
-- capacity is never a counter.

-- The office's Land, as its two-letter code (SN Sachsen, ST Sachsen-Anhalt,
-- ...): whose public holidays its calendars close on. Empty: the
-- nationwide ones only.
ALTER TABLE office ADD COLUMN state text NOT NULL DEFAULT ''
    CHECK (state IN ('', 'BW', 'BY', 'BE', 'BB', 'HB', 'HH', 'HE', 'MV', 'NI', 'NW', 'RP', 'SL', 'SN', 'ST', 'SH', 'TH'));

-- kind: onsite (place says where) or video (a booking makes a video
-- consultation). A slot lasts slot_minutes; buffer_minutes lie between
-- two slots; a slot can be booked from horizon_days ahead until
-- notice_minutes before it starts.
CREATE TABLE calendar (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id      bigint NOT NULL REFERENCES office (id),
    slug           text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 60),
    name           text NOT NULL CHECK (name <> ''),
    kind           text NOT NULL CHECK (kind IN ('onsite', 'video')),
    place          text NOT NULL DEFAULT '',
    slot_minutes   integer NOT NULL CHECK (slot_minutes BETWEEN 5 AND 240),
    buffer_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_minutes BETWEEN 0 AND 120),
    notice_minutes integer NOT NULL DEFAULT 120 CHECK (notice_minutes BETWEEN 0 AND 43200),
    horizon_days   integer NOT NULL DEFAULT 56 CHECK (horizon_days BETWEEN 1 AND 366),
    UNIQUE (office_id, slug),
    UNIQUE (office_id, id)
);

-- The services a calendar serves.
CREATE TABLE calendar_service (
    calendar_id  bigint NOT NULL REFERENCES calendar (id) ON DELETE CASCADE,
    service_slug text NOT NULL REFERENCES service (slug),
    PRIMARY KEY (calendar_id, service_slug)
);
CREATE INDEX calendar_service_service ON calendar_service (service_slug);

-- A weekly rule: on weekday (1 Monday … 7 Sunday), slots from starts to
-- ends (local time of the office, Europe/Berlin), capacity places each,
-- on the days from valid_from to valid_until (both optional, inclusive).
CREATE TABLE calendar_rule (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    calendar_id bigint NOT NULL REFERENCES calendar (id) ON DELETE CASCADE,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts      time NOT NULL,
    ends        time NOT NULL,
    capacity    smallint NOT NULL CHECK (capacity BETWEEN 1 AND 50),
    valid_from  date,
    valid_until date,
    CHECK (starts < ends),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until)
);
CREATE INDEX calendar_rule_calendar ON calendar_rule (calendar_id);

-- Days a calendar has no slots (a team outing, a strike), inclusive.
CREATE TABLE calendar_closure (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    calendar_id bigint NOT NULL REFERENCES calendar (id) ON DELETE CASCADE,
    first_day   date NOT NULL,
    last_day    date NOT NULL,
    reason      text NOT NULL DEFAULT '',
    CHECK (first_day <= last_day)
);
CREATE INDEX calendar_closure_calendar ON calendar_closure (calendar_id, last_day);

-- A booking: one place of the slot of calendar_id that starts at
-- starts_at. state: held (chosen, contact details still to come),
-- unconfirmed (details given, the confirmation mail is out), booked,
-- cancelled, expired (a hold or an unconfirmed booking whose expires_at
-- passed). The first three hold their place; booking_place lets one
-- booking hold a place at a time. A held or unconfirmed booking whose
-- expires_at has passed still holds it until it is marked expired, which
-- the next hold of that slot does first. token_hash is the SHA-256 of the
-- 128-bit token in the citizen's links.
CREATE TABLE booking (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id    bigint NOT NULL,
    calendar_id  bigint NOT NULL,
    service_slug text NOT NULL REFERENCES service (slug),
    starts_at    timestamptz NOT NULL,
    seat         smallint NOT NULL CHECK (seat BETWEEN 0 AND 49),
    state        text NOT NULL CHECK (state IN ('held', 'unconfirmed', 'booked', 'cancelled', 'expired')),
    expires_at   timestamptz,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (office_id, calendar_id) REFERENCES calendar (office_id, id),
    CHECK ((state IN ('held', 'unconfirmed')) = (expires_at IS NOT NULL))
);
CREATE UNIQUE INDEX booking_place ON booking (calendar_id, starts_at, seat)
    WHERE state IN ('held', 'unconfirmed', 'booked');
CREATE INDEX booking_office_calendar ON booking (office_id, calendar_id, starts_at);

-- +goose Down
DROP TABLE booking;
DROP TABLE calendar_closure;
DROP TABLE calendar_rule;
DROP TABLE calendar_service;
DROP TABLE calendar;
ALTER TABLE office DROP COLUMN state;
