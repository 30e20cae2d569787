package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Office is a Gesundheitsamt served by this installation.
type Office struct {
	ID         int64
	Slug       string // URL name, e.g. "leipzig"
	Code       string // three letters, first part of reference numbers
	Name       string
	Street     string
	PostalCode string
	City       string
	Phone      string
	Email      string
	Website    string
	// State is the office's Land, two letters (SN, ST, ...): whose public
	// holidays close its calendars. Empty: the nationwide ones.
	State string
	// Notify is how the office's inbox address hears of new submissions:
	// NotifyEach, NotifyDaily or NotifyOff (set by its admin).
	Notify string
}

// How an office hears of new submissions (Office.Notify).
const (
	NotifyEach  = "each"  // a mail per submission
	NotifyDaily = "daily" // one summary a day
	NotifyOff   = "off"   // none
)

// PostalArea is an inclusive range of postal codes an office is responsible
// for.
type PostalArea struct {
	OfficeID  int64
	FirstCode string
	LastCode  string
}

// Service is an entry of the catalogue.
type Service struct {
	Slug     string
	FormRef  string
	Position int
}

const officeColumns = `id, slug, code, name, street, postal_code, city, phone, email, website, state, notify`

func scanOffice(row pgx.Row) (Office, error) {
	var o Office
	err := row.Scan(&o.ID, &o.Slug, &o.Code, &o.Name, &o.Street, &o.PostalCode, &o.City, &o.Phone, &o.Email, &o.Website, &o.State, &o.Notify)
	return o, err
}

const listOffices = `SELECT ` + officeColumns + ` FROM office ORDER BY name`

// ListOffices returns every office, by name.
func ListOffices(ctx context.Context, q Querier) ([]Office, error) {
	rows, err := q.Query(ctx, listOffices)
	if err != nil {
		return nil, fmt.Errorf("store: list offices: %w", err)
	}
	offices, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Office, error) { return scanOffice(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list offices: %w", err)
	}
	return offices, nil
}

const getOfficeBySlug = `SELECT ` + officeColumns + ` FROM office WHERE slug = $1`

// GetOfficeBySlug returns the office named slug, or a NotFound error.
func GetOfficeBySlug(ctx context.Context, q Querier, slug string) (Office, error) {
	o, err := scanOffice(q.QueryRow(ctx, getOfficeBySlug, slug))
	if err != nil {
		return Office{}, notFound("store: get office "+slug, err)
	}
	return o, nil
}

const upsertOffice = `
INSERT INTO office (slug, code, name, street, postal_code, city, phone, email, website, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (slug) DO UPDATE SET
    code = EXCLUDED.code, name = EXCLUDED.name, street = EXCLUDED.street,
    postal_code = EXCLUDED.postal_code, city = EXCLUDED.city, phone = EXCLUDED.phone,
    email = EXCLUDED.email, website = EXCLUDED.website, state = EXCLUDED.state, updated_at = now()
RETURNING id`

// UpsertOffice creates the office or updates the one with the same slug,
// and returns its id.
func UpsertOffice(ctx context.Context, q Querier, o Office) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, upsertOffice, o.Slug, o.Code, o.Name, o.Street, o.PostalCode, o.City, o.Phone, o.Email, o.Website, o.State).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: upsert office %s: %w", o.Slug, err)
	}
	return id, nil
}

const (
	deletePostalAreas = `DELETE FROM office_postal_area WHERE office_id = $1`
	insertPostalArea  = `INSERT INTO office_postal_area (office_id, first_code, last_code) VALUES ($1, $2, $3)`
)

// ReplacePostalAreas sets the postal-code areas of one office. Run it in a
// transaction so readers never see the office without areas.
func ReplacePostalAreas(ctx context.Context, q Querier, officeID int64, areas []PostalArea) error {
	if _, err := q.Exec(ctx, deletePostalAreas, officeID); err != nil {
		return fmt.Errorf("store: replace postal areas of office %d: %w", officeID, err)
	}
	for _, a := range areas {
		if _, err := q.Exec(ctx, insertPostalArea, officeID, a.FirstCode, a.LastCode); err != nil {
			return fmt.Errorf("store: replace postal areas of office %d: %w", officeID, err)
		}
	}
	return nil
}

const listPostalAreas = `SELECT office_id, first_code, last_code FROM office_postal_area ORDER BY office_id, first_code`

// ListPostalAreas returns the areas of all offices.
func ListPostalAreas(ctx context.Context, q Querier) ([]PostalArea, error) {
	rows, err := q.Query(ctx, listPostalAreas)
	if err != nil {
		return nil, fmt.Errorf("store: list postal areas: %w", err)
	}
	areas, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PostalArea])
	if err != nil {
		return nil, fmt.Errorf("store: list postal areas: %w", err)
	}
	return areas, nil
}

const officesForPostalCode = `
SELECT ` + officeColumns + ` FROM office
WHERE id IN (SELECT office_id FROM office_postal_area WHERE $1 BETWEEN first_code AND last_code)
ORDER BY name`

// OfficesForPostalCode returns the offices responsible for a five-digit
// postal code: usually one, none when this installation serves no office
// there, several where a postal code spans districts.
func OfficesForPostalCode(ctx context.Context, q Querier, code string) ([]Office, error) {
	rows, err := q.Query(ctx, officesForPostalCode, code)
	if err != nil {
		return nil, fmt.Errorf("store: offices for postal code: %w", err)
	}
	offices, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Office, error) { return scanOffice(r) })
	if err != nil {
		return nil, fmt.Errorf("store: offices for postal code: %w", err)
	}
	return offices, nil
}

const getOffice = `SELECT ` + officeColumns + ` FROM office WHERE id = $1`

// GetOffice returns office id, or a NotFound error.
func GetOffice(ctx context.Context, q Querier, id int64) (Office, error) {
	o, err := scanOffice(q.QueryRow(ctx, getOffice, id))
	if err != nil {
		return Office{}, notFound("store: get office", err)
	}
	return o, nil
}
