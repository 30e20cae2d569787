-- +goose Up
-- The office's side of appointments. cancelled_by says who cancelled
-- one: the citizen through the mail's link, or the office (an API token,
-- later its staff; the audit log names which). cancel_reason is the
-- office's short reason: it stays with the booking and is read through
-- the API, but it is never mailed, never sent in a webhook call and never
-- written to the audit log, which outlives the booking: a reason may say
-- something about a person's health.
ALTER TABLE booking
    ADD COLUMN cancelled_by  text CHECK (cancelled_by IN ('citizen', 'office')),
    ADD COLUMN cancel_reason text NOT NULL DEFAULT '' CHECK (length(cancel_reason) <= 500);
-- Every cancellation so far was the citizen's.
UPDATE booking SET cancelled_by = 'citizen' WHERE state = 'cancelled';

-- An office's appointments of some days, of all its calendars.
CREATE INDEX booking_office_start ON booking (office_id, starts_at);

-- +goose Down
DROP INDEX booking_office_start;
ALTER TABLE booking DROP COLUMN cancelled_by, DROP COLUMN cancel_reason;
