-- +goose Up
-- What the inbox needs: the applicant's name to list, assignment, an unread
-- marker, full-text search and counts per status that stay fast at a
-- million cases.

-- Full-text search (German configuration): search holds the words of the
-- answers any staff member may read; search_all those and the answers
-- marked confidential: medical, searched only by physicians, so a search
-- cannot reveal what a caseworker may not read. Two columns, not one with
-- weights: each has its own statistics, so the planner knows that a word
-- found only in medical answers is rare in what a caseworker searches
-- (docs/inbox-queries.md), and a physician's query may combine words of
-- both kinds.
ALTER TABLE submission
    ADD COLUMN applicant      text NOT NULL DEFAULT '',
    ADD COLUMN assignee_id    bigint REFERENCES staff (id),
    ADD COLUMN unread         boolean NOT NULL DEFAULT true,
    ADD COLUMN search         tsvector NOT NULL DEFAULT ''::tsvector,
    ADD COLUMN search_all     tsvector NOT NULL DEFAULT ''::tsvector;
CREATE INDEX submission_search ON submission USING gin (search);
CREATE INDEX submission_search_all ON submission USING gin (search_all);
CREATE INDEX submission_office_assignee ON submission (office_id, assignee_id, submitted_at DESC, id DESC);
CREATE INDEX submission_office_service ON submission (office_id, service_slug, submitted_at DESC, id DESC);

-- Who wrote an event (a note, a change); NULL for the citizen and the
-- system. request_files: a Rückfrage that asks for documents.
ALTER TABLE case_event
    ADD COLUMN staff_id      bigint REFERENCES staff (id),
    ADD COLUMN request_files boolean NOT NULL DEFAULT false;

-- Files a citizen sent with an answer to a Rückfrage.
ALTER TABLE attachment ADD COLUMN event_id bigint REFERENCES case_event (id);

-- Counts per office and status as a sum of deltas: every change of
-- submission appends rows (no row is updated, so concurrent submissions
-- never wait for each other), and readers fold them up now and then
-- (store.CountByStatus). count(*) over a million cases would take far
-- longer than a page may.
CREATE TABLE case_count (
    office_id bigint NOT NULL,
    status    text NOT NULL,
    n         bigint NOT NULL
);
CREATE INDEX case_count_office ON case_count (office_id);

-- +goose StatementBegin
CREATE FUNCTION case_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_count (office_id, status, n)
    SELECT office_id, status, count(*) FROM new_rows GROUP BY office_id, status;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION case_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_count (office_id, status, n)
    SELECT office_id, status, sum(d) FROM (
        SELECT office_id, status, -1 AS d FROM old_rows
        UNION ALL
        SELECT office_id, status, 1 FROM new_rows
    ) c GROUP BY office_id, status HAVING sum(d) <> 0;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION case_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_count (office_id, status, n)
    SELECT office_id, status, -count(*) FROM old_rows GROUP BY office_id, status;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER submission_count_insert AFTER INSERT ON submission
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_count_insert();
CREATE TRIGGER submission_count_update AFTER UPDATE ON submission
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_count_update();
CREATE TRIGGER submission_count_delete AFTER DELETE ON submission
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION case_count_delete();

INSERT INTO case_count (office_id, status, n)
SELECT office_id, status, count(*) FROM submission GROUP BY office_id, status;

-- +goose Down
DROP TRIGGER submission_count_delete ON submission;
DROP TRIGGER submission_count_update ON submission;
DROP TRIGGER submission_count_insert ON submission;
DROP FUNCTION case_count_delete();
DROP FUNCTION case_count_update();
DROP FUNCTION case_count_insert();
DROP TABLE case_count;
ALTER TABLE attachment DROP COLUMN event_id;
ALTER TABLE case_event DROP COLUMN request_files, DROP COLUMN staff_id;
DROP INDEX submission_office_service;
DROP INDEX submission_office_assignee;
ALTER TABLE submission DROP COLUMN search_all, DROP COLUMN search, DROP COLUMN unread,
    DROP COLUMN assignee_id, DROP COLUMN applicant;
