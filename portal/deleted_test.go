package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeletedCaseSaysSoEverywhere: once a case is deleted, its citizen's
// link says it was deleted and when (in German and English), its receipt
// and PDF are gone with it, the back office and the API answer 410 Gone,
// and no list shows it.
func TestDeletedCaseSaysSoEverywhere(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	id, token := h.submitGutachten(t, "leipzig")
	kept, _ := h.submitGutachten(t, "leipzig")
	var ref string
	if err := h.db.QueryRow(ctx, `SELECT reference FROM submission WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	h.closeCase(t, "leipzig", id, time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC))
	deleted := time.Date(2036, 2, 3, 2, 30, 0, 0, time.UTC)
	if res, err := h.cases.DeleteDue(ctx, deleted, time.Time{}); err != nil || res.Cases != 1 {
		t.Fatalf("deletion: %+v, %v", res, err)
	}

	status := "/status/" + token
	for _, sc := range []scenario{
		{name: "status page", path: status, status: http.StatusGone, contains: []string{
			"Ihr Vorgang wurde gelöscht", ref, "am 03.02.2036 mit allen Angaben und Dateien gelöscht",
			"Amtsärztliche Untersuchung", "Gesundheitsamt Leipzig", "02.02.2026, 11:00 Uhr",
		}, notContains: []string{"Briain", "Zoë", "Landesamt"}},
		{name: "status page in English", path: status + "?lang=en", status: http.StatusGone, contains: []string{
			"Your case was deleted", ref, "deleted it with all details and files on 3 February 2036",
		}},
		{name: "receipt page", path: status + "/eingang", status: http.StatusGone, contains: []string{"Ihr Vorgang wurde gelöscht", ref}},
		{name: "PDF receipt", path: status + "/eingangsbestaetigung.pdf", status: http.StatusGone, contains: []string{"Ihr Vorgang wurde gelöscht"},
			notContains: []string{"%PDF"}},
		{name: "a wrong token is still 404", path: "/status/" + strings.Repeat("0", 26), status: http.StatusNotFound},
	} {
		t.Run(sc.name, func(t *testing.T) { h.run(t, sc) })
	}

	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	res, b := worker.get(fmt.Sprintf("/staff/faelle/%d", id))
	expectStatus(t, res, b, http.StatusGone)
	expectContains(t, b, "Vorgang gelöscht")
	_, b = worker.get("/staff/")
	if strings.Contains(b, ref) || !strings.Contains(b, fmt.Sprintf("/staff/faelle/%d", kept)) {
		t.Error("the inbox lists the deleted case, or lost the other one")
	}
	other := h.logIn(t, "sb@halle.test", h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP))
	if res, _ := other.get(fmt.Sprintf("/staff/faelle/%d", id)); res.StatusCode != http.StatusNotFound {
		t.Errorf("another office learns that the case existed: %d", res.StatusCode)
	}

	api := h.apiToken(t, spec, "leipzig", "submissions:read", "attachments:read")
	for _, path := range []string{fmt.Sprintf("/api/v1/submissions/%d", id), fmt.Sprintf("/api/v1/submissions/%d/events", id)} {
		res, b := api.do(http.MethodGet, path, nil)
		if res.StatusCode != http.StatusGone || !strings.Contains(string(b), `"code":"gone"`) {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, b)
		}
	}
	var list apiList
	if api.get("/api/v1/submissions", &list) != http.StatusOK || len(list.Data) != 1 || list.Data[0].ID != kept {
		t.Errorf("the API lists %+v, want only the kept case", list.Data)
	}
	halle := h.apiToken(t, spec, "halle", "submissions:read")
	if res, _ := halle.do(http.MethodGet, fmt.Sprintf("/api/v1/submissions/%d", id), nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("another office's token: %d, want 404", res.StatusCode)
	}
}
