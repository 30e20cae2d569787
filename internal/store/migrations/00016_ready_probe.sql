-- +goose Up
-- /readyz proves every few seconds that a submission can be stored now by
-- writing here: TRUNCATE gives the table a new, empty file and the INSERT
-- must then extend it by a page, as a submission's insert must when its
-- tables grow. A full disk (53100), a read-only server or a lost
-- connection fails it; nothing else reads the row.
CREATE TABLE ready_probe (
    at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE ready_probe;
