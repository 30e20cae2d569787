-- +goose Up
-- Offices (Gesundheitsämter) served by this installation, the postal-code
-- areas each is responsible for, and the service catalogue: which services
-- exist and which office offers which.

CREATE TABLE office (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 60),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}$'),
    name        text NOT NULL CHECK (name <> ''),
    street      text NOT NULL DEFAULT '',
    postal_code text NOT NULL DEFAULT '',
    city        text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    website     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- An inclusive range of five-digit postal codes. Ranges of different offices
-- may overlap (a postal code can span districts); the citizen then chooses.
CREATE TABLE office_postal_area (
    office_id  bigint NOT NULL REFERENCES office (id) ON DELETE CASCADE,
    first_code text COLLATE "C" NOT NULL CHECK (first_code ~ '^[0-9]{5}$'),
    last_code  text COLLATE "C" NOT NULL CHECK (last_code ~ '^[0-9]{5}$'),
    PRIMARY KEY (office_id, first_code),
    CHECK (first_code <= last_code)
);
CREATE INDEX office_postal_area_range ON office_postal_area (first_code, last_code);

-- A service of the catalogue. form_ref names the form definition
-- (forms/definitions/<form_ref>.yaml) that serves it.
CREATE TABLE service (
    slug       text PRIMARY KEY CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 60),
    form_ref   text NOT NULL,
    position   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE office_service (
    office_id    bigint NOT NULL REFERENCES office (id) ON DELETE CASCADE,
    service_slug text NOT NULL REFERENCES service (slug) ON DELETE CASCADE,
    PRIMARY KEY (office_id, service_slug)
);

-- +goose Down
DROP TABLE office_service;
DROP TABLE service;
DROP TABLE office_postal_area;
DROP TABLE office;
