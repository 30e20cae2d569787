-- +goose Up
-- Retention of case data (GDPR Art. 5(1)(e)): a case is deleted when its
-- retention period, counted from its closing, is over; a deletion hold
-- (Löschsperre) stops that. What stays of a deleted case is a tombstone
-- without personal data.

-- closed_at: when the case entered abgeschlossen or abgelehnt (NULL while
-- open). hold_*: the deletion hold, with the reason staff gave (on the
-- case, so it goes with the case; the audit log records only that a hold
-- was set).
ALTER TABLE submission
    ADD COLUMN closed_at   timestamptz,
    ADD COLUMN hold_at     timestamptz,
    ADD COLUMN hold_by     bigint REFERENCES staff (id),
    ADD COLUMN hold_reason text NOT NULL DEFAULT '',
    ADD CONSTRAINT submission_hold CHECK ((hold_at IS NULL) = (hold_reason = ''));

-- Cases closed before this migration: the time of the status event that
-- closed them, else their last change.
UPDATE submission s SET closed_at = coalesce(
    (SELECT max(e.at) FROM case_event e WHERE e.submission_id = s.id AND e.kind = 'status' AND e.status = s.status),
    s.updated_at)
WHERE s.status IN ('abgeschlossen', 'abgelehnt');

-- The deletion job's search: closed cases without a hold, per office and
-- service, oldest closing first. Open cases (most of the inbox) are not
-- in it, so it costs a submission nothing.
CREATE INDEX submission_retention_due ON submission (office_id, service_slug, closed_at)
    WHERE closed_at IS NOT NULL AND hold_at IS NULL;
-- The held cases, for the admin's list of what is due.
CREATE INDEX submission_retention_held ON submission (office_id, closed_at)
    WHERE hold_at IS NOT NULL;
-- Deleting a submission sets its drafts' link to NULL and checks that no
-- attachment names a deleted event: without these, each deleted case
-- would scan both tables.
CREATE INDEX draft_submission ON draft (submission_id) WHERE submission_id IS NOT NULL;
CREATE INDEX attachment_event ON attachment (event_id) WHERE event_id IS NOT NULL;

-- An office's own retention period for a service, in months; without a
-- row the form definition's default applies.
CREATE TABLE office_retention (
    office_id    bigint NOT NULL REFERENCES office (id) ON DELETE CASCADE,
    service_slug text NOT NULL REFERENCES service (slug) ON DELETE CASCADE,
    months       integer NOT NULL CHECK (months BETWEEN 1 AND 360),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (office_id, service_slug)
);

-- What is left of a deleted case: its id (the audit log's
-- "submission:<id>" still names something), reference number, office,
-- service, form and dates; no name, no answer, no file. The access token's
-- hash stays so the citizen's status link says the case was deleted, and
-- when. A reference number is never drawn again while its tombstone
-- exists (store.InsertSubmission checks).
CREATE TABLE case_tombstone (
    id                bigint PRIMARY KEY,
    office_id         bigint NOT NULL REFERENCES office (id),
    service_slug      text NOT NULL,
    form_id           text NOT NULL,
    form_version      integer NOT NULL,
    reference         text NOT NULL UNIQUE,
    access_token_hash bytea NOT NULL UNIQUE,
    submitted_at      timestamptz NOT NULL,
    closed_at         timestamptz NOT NULL,
    deleted_at        timestamptz NOT NULL
);
CREATE INDEX case_tombstone_office_deleted ON case_tombstone (office_id, deleted_at);

-- +goose Down
DROP TABLE case_tombstone;
DROP TABLE office_retention;
DROP INDEX attachment_event;
DROP INDEX draft_submission;
DROP INDEX submission_retention_held;
DROP INDEX submission_retention_due;
ALTER TABLE submission DROP CONSTRAINT submission_hold, DROP COLUMN hold_reason, DROP COLUMN hold_by,
    DROP COLUMN hold_at, DROP COLUMN closed_at;
