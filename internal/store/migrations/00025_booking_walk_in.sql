-- +goose Up
-- A walk-in: an appointment staff book for someone at the counter, who
-- may have no e-mail address. Every other booking past its hold needs
-- one (the double opt-in goes to it), so the check on the address
-- allows none only for a walk-in.
ALTER TABLE booking ADD COLUMN walk_in boolean NOT NULL DEFAULT false;

-- +goose StatementBegin
DO $$
DECLARE c text;
BEGIN
    SELECT conname INTO c FROM pg_constraint
    WHERE conrelid = 'booking'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%email <> ''''::text%';
    EXECUTE format('ALTER TABLE booking DROP CONSTRAINT %I', c);
END
$$;
-- +goose StatementEnd

ALTER TABLE booking ADD CONSTRAINT booking_address_given CHECK (state IN ('held', 'expired') OR email <> '' OR walk_in);

-- +goose Down
ALTER TABLE booking DROP CONSTRAINT booking_address_given;
ALTER TABLE booking ADD CHECK (state IN ('held', 'expired') OR email <> '');
ALTER TABLE booking DROP COLUMN walk_in;
