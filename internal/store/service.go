package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OfficeService says that an office offers a service.
type OfficeService struct {
	OfficeID    int64
	ServiceSlug string
}

const upsertService = `
INSERT INTO service (slug, form_ref, position) VALUES ($1, $2, $3)
ON CONFLICT (slug) DO UPDATE SET form_ref = EXCLUDED.form_ref, position = EXCLUDED.position`

// UpsertService adds a service to the catalogue or updates it.
func UpsertService(ctx context.Context, q Querier, s Service) error {
	if _, err := q.Exec(ctx, upsertService, s.Slug, s.FormRef, s.Position); err != nil {
		return fmt.Errorf("store: upsert service %s: %w", s.Slug, err)
	}
	return nil
}

const listServices = `SELECT slug, form_ref, position FROM service ORDER BY position, slug`

// ListServices returns the whole catalogue in display order.
func ListServices(ctx context.Context, q Querier) ([]Service, error) {
	rows, err := q.Query(ctx, listServices)
	if err != nil {
		return nil, fmt.Errorf("store: list services: %w", err)
	}
	services, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Service])
	if err != nil {
		return nil, fmt.Errorf("store: list services: %w", err)
	}
	return services, nil
}

const enableService = `
INSERT INTO office_service (office_id, service_slug) VALUES ($1, $2)
ON CONFLICT DO NOTHING`

// EnableService lets office officeID offer the service slug.
func EnableService(ctx context.Context, q Querier, officeID int64, slug string) error {
	if _, err := q.Exec(ctx, enableService, officeID, slug); err != nil {
		return fmt.Errorf("store: enable service %s for office %d: %w", slug, officeID, err)
	}
	return nil
}

const listOfficeServices = `SELECT office_id, service_slug FROM office_service ORDER BY office_id, service_slug`

// ListOfficeServices returns which office offers which service, for all
// offices (the public catalogue; no office data beyond that).
func ListOfficeServices(ctx context.Context, q Querier) ([]OfficeService, error) {
	rows, err := q.Query(ctx, listOfficeServices)
	if err != nil {
		return nil, fmt.Errorf("store: list office services: %w", err)
	}
	pairs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OfficeService])
	if err != nil {
		return nil, fmt.Errorf("store: list office services: %w", err)
	}
	return pairs, nil
}

const listBookableServices = `
SELECT DISTINCT c.office_id, cs.service_slug
FROM calendar c JOIN calendar_service cs ON cs.calendar_id = c.id
JOIN office_service os ON os.office_id = c.office_id AND os.service_slug = cs.service_slug
ORDER BY 1, 2`

// ListBookableServices returns which office books which of its services
// directly: those a calendar of the office serves (the public catalogue;
// no office data beyond that).
func ListBookableServices(ctx context.Context, q Querier) ([]OfficeService, error) {
	rows, err := q.Query(ctx, listBookableServices)
	if err != nil {
		return nil, fmt.Errorf("store: list bookable services: %w", err)
	}
	pairs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OfficeService])
	if err != nil {
		return nil, fmt.Errorf("store: list bookable services: %w", err)
	}
	return pairs, nil
}
