-- +goose Up
-- Optimistic locking of cases: every change raises the version, and a
-- change made against an older version is refused, so two staff members
-- changing one case at once cannot overwrite each other.
ALTER TABLE submission ADD COLUMN version integer NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE submission DROP COLUMN version;
