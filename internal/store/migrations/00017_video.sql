-- +goose Up
-- Video consultations (Videosprechstunde). What is kept is metadata only:
-- when a consultation was planned for, who was invited by which link, who
-- waited, was admitted or denied, and when it ended. No media, chat or
-- screen content is ever stored. All of it goes 90 days after the
-- consultation (retention.Sweep).

-- A consultation of an office, usually about a case (submission_id; a
-- booking without a case has none); it goes with its case. state: planned (the links work in
-- their window), cancelled, ended (staff ended it for everyone).
-- sequence counts the changes the citizen's calendar must follow (ICS
-- SEQUENCE); mails counts the mails sent about it (each mail job's unique
-- key). node is the portal process holding the call's media, while a call
-- runs.
CREATE TABLE video_consultation (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    office_id     bigint NOT NULL REFERENCES office (id),
    submission_id bigint REFERENCES submission (id) ON DELETE CASCADE,
    starts_at     timestamptz NOT NULL,
    minutes       integer NOT NULL CHECK (minutes BETWEEN 5 AND 240),
    state         text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'cancelled', 'ended')),
    created_by    bigint REFERENCES staff (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    sequence      integer NOT NULL DEFAULT 0,
    mails         integer NOT NULL DEFAULT 0,
    node          text NOT NULL DEFAULT '',
    node_seen_at  timestamptz
);
-- The office's list (today and upcoming) and the retention sweep.
CREATE INDEX video_consultation_office ON video_consultation (office_id, starts_at);
CREATE INDEX video_consultation_starts ON video_consultation (starts_at);
CREATE INDEX video_consultation_case ON video_consultation (submission_id) WHERE submission_id IS NOT NULL;

-- A join link: the patient's, or a guest's (an interpreter or companion,
-- named by staff). The link carries a 128-bit token; what is here is
-- its SHA-256 (the lookup) and the token sealed with
-- PORTAL_ENCRYPTION_KEY, so a re-sent or rescheduled invitation carries
-- the same link. contact_sealed: where its mails go ({"email","lang"}
-- sealed the same way; empty when staff pass the link on themselves).
CREATE TABLE video_link (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consultation_id bigint NOT NULL REFERENCES video_consultation (id) ON DELETE CASCADE,
    office_id       bigint NOT NULL REFERENCES office (id),
    token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    token_sealed    bytea NOT NULL,
    contact_sealed  bytea,
    kind            text NOT NULL CHECK (kind IN ('patient', 'guest')),
    name            text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX video_link_consultation ON video_link (consultation_id);

-- What happened in a consultation, without content: a link's holder
-- waited, was admitted or denied (by staff_id), came back (rejoined),
-- left; staff joined or ended it.
CREATE TABLE video_presence (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consultation_id bigint NOT NULL REFERENCES video_consultation (id) ON DELETE CASCADE,
    office_id       bigint NOT NULL REFERENCES office (id),
    link_id         bigint REFERENCES video_link (id) ON DELETE CASCADE,
    staff_id        bigint REFERENCES staff (id) ON DELETE SET NULL,
    kind            text NOT NULL CHECK (kind IN ('waiting', 'admitted', 'denied', 'rejoined', 'joined', 'left', 'ended')),
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX video_presence_consultation ON video_presence (consultation_id, at);
-- Who waits now: each link's latest entry.
CREATE INDEX video_presence_link ON video_presence (link_id, at DESC, id DESC) WHERE link_id IS NOT NULL;

-- +goose Down
DROP TABLE video_presence;
DROP TABLE video_link;
DROP TABLE video_consultation;
