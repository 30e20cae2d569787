-- +goose Up
-- Staff's decisions about a link's holder in a consultation's call, kept
-- here and not only by the portal process holding the call, so that they
-- hold on the process that takes the call over when its holder dies.
-- rejoin_until: until when the holder comes back without being admitted
-- again (Rejoin after the admission, after dropping out, and after each
-- beat of the holding process while they are in the call); denied: staff
-- turned them away for the rest of the call.
ALTER TABLE video_link
    ADD COLUMN rejoin_until timestamptz,
    ADD COLUMN denied boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE video_link DROP COLUMN rejoin_until, DROP COLUMN denied;
