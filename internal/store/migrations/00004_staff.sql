-- +goose Up
-- Staff accounts of the offices and their sessions. Passwords are argon2id
-- hashes (PHC strings); TOTP secrets are sealed with PORTAL_ENCRYPTION_KEY;
-- session ids are kept only as SHA-256 hashes.

CREATE TABLE staff (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id       bigint NOT NULL REFERENCES office (id),
    email           text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name            text NOT NULL CHECK (name <> ''),
    role            text NOT NULL CHECK (role IN ('admin', 'caseworker', 'physician')),
    password_hash   text NOT NULL,
    totp_secret     bytea,          -- sealed; NULL until enrolled
    totp_required   boolean NOT NULL DEFAULT true,
    disabled        boolean NOT NULL DEFAULT false,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- One address is one person across the installation: login needs no office.
CREATE UNIQUE INDEX staff_email ON staff (email);
CREATE INDEX staff_office ON staff (office_id);

-- A login. second_factor is false between password and TOTP: such a
-- session opens nothing but the TOTP pages.
CREATE TABLE staff_session (
    id_hash       bytea PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    office_id     bigint NOT NULL REFERENCES office (id),
    second_factor boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL -- absolute end (12 h after login)
);
CREATE INDEX staff_session_staff ON staff_session (staff_id);
CREATE INDEX staff_session_expires ON staff_session (expires_at);

-- +goose Down
DROP TABLE staff_session;
DROP TABLE staff;
