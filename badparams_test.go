package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestBadParametersAre400s: every bad parameter of the read routes is a
// 400 with success false and a message that starts with the parameter's
// name; none is a 500.
func TestBadParametersAre400s(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	_, _, admin := startApp(t, cfg, appOptions{})
	cases := []struct{ method, path, body, param string }{
		{"GET", "/api/account/request-logs?limit=0", "", "limit"},
		{"GET", "/api/account/request-logs?limit=1001", "", "limit"},
		{"GET", "/api/account/request-logs?limit=ten", "", "limit"},
		{"GET", "/api/account/request-logs?cursor=" + url.QueryEscape("not a cursor"), "", "cursor"},
		{"GET", "/api/account/request-logs?status=maybe", "", "status"},
		{"GET", "/api/account/request-logs?error_type=oops", "", "error_type"},
		{"GET", "/api/account/request-logs?start_date=2026-02-30", "", "start_date"},
		{"GET", "/api/account/request-logs/abc/details", "", "id"},
		{"GET", "/api/account/cost-insights?range=9d", "", "range"},
		{"GET", "/api/account/cost-insights?end_date=x", "", "end_date"},
		{"GET", "/api/account/errors?start_date=2026-11-05&end_date=2026-11-01", "", "end_date"},
		{"GET", "/api/organizations/acme/usage?group_by=weekday", "", "group_by"},
		{"POST", "/api/analytics/query", `{"metrics":["requests"`, "body"},
		{"POST", "/api/analytics/query", `{"metrics":["vibes"]}`, "metrics[0]"},
		{"POST", "/api/analytics/query", `{"metrics":["requests"],"dimensions":["planet"]}`, "dimensions[0]"},
		{"POST", "/api/analytics/query", `{"metrics":["requests"],"limit":0}`, "limit"},
		{"POST", "/api/analytics/query", `{"metrics":["requests"],"filters":{"start_date":"soon"}}`, "filters.start_date"},
		{"POST", "/api/organizations/acme/members", `{"email":"a@b.example","role":"boss"}`, "role"},
	}
	for _, c := range cases {
		st, b, _ := call(t, c.method, admin+c.path, map[string]string{"Authorization": "Bearer " + keyAlice}, c.body)
		msg := jsonString(b, "error.message")
		if st != 400 || jsonString(b, "success") != "false" || !strings.HasPrefix(msg, c.param) {
			t.Errorf("%s %s: %d %s; want a 400 naming %q", c.method, c.path, st, b, c.param)
		}
	}
}
