-- +goose Up
-- The video consultation a video appointment made when it was booked.
-- It moves and is cancelled with its booking; the booking's mails carry
-- its join link. A booking deleted by the retention sweep leaves the
-- consultation's metadata to its own retention.
ALTER TABLE video_consultation ADD COLUMN booking_id bigint UNIQUE REFERENCES booking (id) ON DELETE SET NULL;

-- +goose Down
ALTER TABLE video_consultation DROP COLUMN booking_id;
