-- +goose Up
-- Counters that limit abuse, each checked and counted in one statement so
-- parallel requests cannot pass a limit together. Keys are HMACs: never a
-- client address or an e-mail address as such.

-- Events per key in fixed windows (form starts, feedback, resume mails,
-- logins per client address).
CREATE TABLE rate_count (
    key        bytea PRIMARY KEY,
    window_end timestamptz NOT NULL,
    n          integer NOT NULL
);
CREATE INDEX rate_count_window_end ON rate_count (window_end);

-- Attempts at a secret (a password per account and client or device, a
-- password per account, a second factor, a current password): a few are
-- free, then each must wait a delay that doubles up to a cap. A complete
-- login clears its own; owner (the account's address, as an HMAC) lets an
-- admin's reset clear them all.
CREATE TABLE login_throttle (
    key           bytea PRIMARY KEY,
    owner         bytea NOT NULL,
    attempts      integer NOT NULL,
    blocked_until timestamptz NOT NULL DEFAULT '-infinity',
    allowed_tx    xid8 NOT NULL DEFAULT pg_current_xact_id(), -- the transaction of the last attempt let through
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);
CREATE INDEX login_throttle_owner ON login_throttle (owner);

-- The lockout of an account is the throttle's now, and the fiber limiter's
-- key-value table is replaced by rate_count.
ALTER TABLE staff DROP COLUMN failed_logins, DROP COLUMN locked_until;
DROP TABLE fiber_storage;

-- A TOTP secret offered at enrolment waits here, sealed, until its first
-- code proves the authenticator holds it: the secret never comes from the
-- browser.
ALTER TABLE staff_session ADD COLUMN pending_totp bytea;

-- +goose Down
ALTER TABLE staff_session DROP COLUMN pending_totp;
CREATE TABLE fiber_storage (
    k varchar(64) PRIMARY KEY NOT NULL DEFAULT '',
    v bytea NOT NULL,
    e bigint NOT NULL DEFAULT '0'
);
CREATE INDEX fiber_storage_e ON fiber_storage (e);
ALTER TABLE staff ADD COLUMN failed_logins integer NOT NULL DEFAULT 0, ADD COLUMN locked_until timestamptz;
DROP TABLE login_throttle;
DROP TABLE rate_count;
