// Package office answers the questions a citizen's first steps raise: which
// offices this installation serves, which office is responsible for a postal
// code, and which services an office offers. It reads the directory from the
// database and keeps a snapshot in memory for a short time: the directory
// changes rarely and is read on every public page.
package office

import (
	"context"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Message ids of the postal-code errors.
const (
	MsgPostalCodeRequired = "postcode.error.required"
	MsgPostalCodeFormat   = "postcode.error.format"
)

// Entry is one office with its postal-code areas and the services it offers
// (slugs, in catalogue order).
type Entry struct {
	store.Office
	Areas    []store.PostalArea
	Services []string
	// Bookable are the services offered for which a calendar of the
	// office takes appointments directly ("Termin vereinbaren").
	Bookable []string
}

// Books reports whether the office books service slug directly.
func (e *Entry) Books(slug string) bool {
	for _, s := range e.Bookable {
		if s == slug {
			return true
		}
	}
	return false
}

// Offers reports whether the office offers service slug.
func (e *Entry) Offers(slug string) bool {
	for _, s := range e.Services {
		if s == slug {
			return true
		}
	}
	return false
}

// Snapshot is the directory at one moment. It is never modified after it
// was built, so any number of requests may read it at once.
type Snapshot struct {
	Offices   []*Entry        // by name
	Catalogue []store.Service // services offered by at least one office, in display order
	bySlug    map[string]*Entry
}

// Office returns the office with the given slug.
func (s *Snapshot) Office(slug string) (*Entry, bool) {
	e, ok := s.bySlug[slug]
	return e, ok
}

// OfficeByID returns the office with id.
func (s *Snapshot) OfficeByID(id int64) (*Entry, bool) {
	for _, e := range s.Offices {
		if e.ID == id {
			return e, true
		}
	}
	return nil, false
}

// Service returns the catalogue entry slug, if any office offers it.
func (s *Snapshot) Service(slug string) (store.Service, bool) {
	for _, svc := range s.Catalogue {
		if svc.Slug == slug {
			return svc, true
		}
	}
	return store.Service{}, false
}

// Responsible returns the offices responsible for a postal code, after
// checking it (see ParsePostalCode). None is not an error: the caller tells
// the citizen that no office of this installation is responsible.
func (s *Snapshot) Responsible(code string) ([]*Entry, error) {
	code, err := ParsePostalCode(code)
	if err != nil {
		return nil, err
	}
	var found []*Entry
	for _, e := range s.Offices {
		for _, a := range e.Areas {
			if a.FirstCode <= code && code <= a.LastCode {
				found = append(found, e)
				break
			}
		}
	}
	return found, nil
}

// ParsePostalCode returns a German postal code (five digits) from what a
// person typed, ignoring spaces. The error is Invalid with a message id.
func ParsePostalCode(s string) (string, error) {
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return "", fault.New(fault.Invalid, "office: postal code", MsgPostalCodeRequired)
	}
	if !forms.IsPostalCode(s) {
		return "", fault.New(fault.Invalid, "office: postal code", MsgPostalCodeFormat)
	}
	return s, nil
}

// Directory serves snapshots of the office directory, reloading from the
// database when the current one is older than its time to live.
type Directory struct {
	db  *store.DB
	ttl time.Duration
	log *slog.Logger

	current atomic.Pointer[loaded] // read by every request without a lock
	mu      sync.Mutex             // held by the one request that reloads
}

// loaded is a snapshot and when it was loaded (or a failed reload last
// tried). It is replaced, never changed.
type loaded struct {
	snap *Snapshot
	at   time.Time
}

// retryAfter is how long a directory keeps serving its last snapshot after
// a failed reload before it tries again: requests during an outage must not
// queue behind one database timeout after another.
const retryAfter = 5 * time.Second

// loadTimeout bounds one reload.
const loadTimeout = 3 * time.Second

// NewDirectory returns a directory reading db and keeping each snapshot for
// ttl.
func NewDirectory(db *store.DB, ttl time.Duration, log *slog.Logger) *Directory {
	return &Directory{db: db, ttl: ttl, log: log}
}

// Snapshot returns a current snapshot. A fresh one costs an atomic load.
// When it is due for a reload, one request reloads while the others keep
// using the last snapshot. When reloading fails it keeps serving the last
// good one (the directory changes rarely; a public page is better than an
// error page) and tries again after a few seconds; it returns an
// Unavailable error only when it has none.
func (d *Directory) Snapshot(ctx context.Context) (*Snapshot, error) {
	cur := d.current.Load()
	if cur != nil && time.Since(cur.at) < d.ttl {
		return cur.snap, nil
	}
	if cur != nil {
		if !d.mu.TryLock() { // another request is reloading
			return cur.snap, nil
		}
	} else {
		d.mu.Lock() // nothing to serve yet: wait for the first load
	}
	defer d.mu.Unlock()
	if cur = d.current.Load(); cur != nil && time.Since(cur.at) < d.ttl {
		return cur.snap, nil // reloaded while this request waited
	}

	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	snap, err := load(ctx, d.db)
	if err != nil {
		if cur != nil {
			d.log.Warn("office directory: reload failed, serving the last snapshot", "err", err)
			d.current.Store(&loaded{snap: cur.snap, at: time.Now().Add(retryAfter - d.ttl)}) // next try in retryAfter
			return cur.snap, nil
		}
		return nil, fault.Wrap(fault.Unavailable, "office: load directory", err)
	}
	if cur != nil && reflect.DeepEqual(cur.snap, snap) {
		snap = cur.snap // unchanged: pages cached for the old snapshot stay valid
	}
	d.current.Store(&loaded{snap: snap, at: time.Now()})
	return snap, nil
}

// Invalidate makes the next Snapshot reload, e.g. after an admin changed an
// office. The current snapshot stays as the fallback.
func (d *Directory) Invalidate() {
	if cur := d.current.Load(); cur != nil {
		d.current.Store(&loaded{snap: cur.snap})
	}
}

func load(ctx context.Context, db *store.DB) (*Snapshot, error) {
	offices, err := store.ListOffices(ctx, db)
	if err != nil {
		return nil, err
	}
	areas, err := store.ListPostalAreas(ctx, db)
	if err != nil {
		return nil, err
	}
	services, err := store.ListServices(ctx, db)
	if err != nil {
		return nil, err
	}
	pairs, err := store.ListOfficeServices(ctx, db)
	if err != nil {
		return nil, err
	}
	bookable, err := store.ListBookableServices(ctx, db)
	if err != nil {
		return nil, err
	}

	snap := &Snapshot{bySlug: make(map[string]*Entry, len(offices))}
	byID := make(map[int64]*Entry, len(offices))
	for _, o := range offices {
		e := &Entry{Office: o}
		snap.Offices = append(snap.Offices, e)
		snap.bySlug[o.Slug] = e
		byID[o.ID] = e
	}
	for _, a := range areas {
		if e := byID[a.OfficeID]; e != nil {
			e.Areas = append(e.Areas, a)
		}
	}
	offered := make(map[string]map[int64]bool)
	for _, p := range pairs {
		if offered[p.ServiceSlug] == nil {
			offered[p.ServiceSlug] = make(map[int64]bool)
		}
		offered[p.ServiceSlug][p.OfficeID] = true
	}
	for _, svc := range services { // already in display order
		if len(offered[svc.Slug]) == 0 {
			continue
		}
		snap.Catalogue = append(snap.Catalogue, svc)
		for _, e := range snap.Offices {
			if offered[svc.Slug][e.ID] {
				e.Services = append(e.Services, svc.Slug)
			}
		}
	}
	for _, p := range bookable {
		if e := byID[p.OfficeID]; e != nil {
			e.Bookable = append(e.Bookable, p.ServiceSlug)
		}
	}
	sort.SliceStable(snap.Offices, func(i, j int) bool { return snap.Offices[i].Name < snap.Offices[j].Name })
	return snap, nil
}
