-- +goose Up
-- A video appointment's consultation names its booking together with its
-- office (the unique index booking_office_id of 00027): a consultation can
-- only belong to a booking of its own office. A booking deleted by the
-- retention sweep still leaves the consultation's metadata to its own
-- retention (only booking_id is set to NULL, not office_id).
ALTER TABLE video_consultation DROP CONSTRAINT video_consultation_booking_id_fkey;
ALTER TABLE video_consultation ADD CONSTRAINT video_consultation_booking_fkey
    FOREIGN KEY (office_id, booking_id) REFERENCES booking (office_id, id) ON DELETE SET NULL (booking_id);

-- +goose Down
ALTER TABLE video_consultation DROP CONSTRAINT video_consultation_booking_fkey;
ALTER TABLE video_consultation ADD CONSTRAINT video_consultation_booking_id_fkey
    FOREIGN KEY (booking_id) REFERENCES booking (id) ON DELETE SET NULL;
