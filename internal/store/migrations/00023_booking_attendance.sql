-- +goose Up
-- Whether the citizen of a booked appointment came, as the office's staff
-- record it from the appointment's day on (the check-in): '' not
-- recorded, 'came', 'no_show'; attendance_at when it was last recorded.
-- Only a booked appointment has one: a cancellation clears it, and so
-- does a move (the new time has not come yet).
ALTER TABLE booking
    ADD COLUMN attendance    text NOT NULL DEFAULT '' CHECK (attendance IN ('', 'came', 'no_show')),
    ADD COLUMN attendance_at timestamptz,
    ADD CONSTRAINT booking_attendance_at CHECK ((attendance = '') = (attendance_at IS NULL)),
    ADD CONSTRAINT booking_attendance_booked CHECK (attendance = '' OR state = 'booked');

-- +goose Down
ALTER TABLE booking DROP COLUMN attendance, DROP COLUMN attendance_at;
