-- +goose Up
-- Account safety: a generated or reset password must be changed at the
-- next login; a TOTP code counts once (the last time step used is kept);
-- recovery codes (SHA-256 hashes, each usable once) replace a lost
-- authenticator.
ALTER TABLE staff
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_last_step       bigint NOT NULL DEFAULT 0;

CREATE TABLE staff_recovery_code (
    staff_id  bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (staff_id, code_hash)
);

-- +goose Down
DROP TABLE staff_recovery_code;
ALTER TABLE staff DROP COLUMN totp_last_step, DROP COLUMN must_change_password;
