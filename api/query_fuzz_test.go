package api

import (
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzQuery sends arbitrary bodies to POST /api/analytics/query, as an
// admin and as a member: the parser never panics, and the answer is a 200,
// a 400 or (a member filtering on another) a 403, always valid JSON with
// "success", never a 500.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		``, `{`, `[]`, `null`, `{}`, `"x"`,
		`{"metrics":["requests"]}`,
		`{"metrics":["requests","tokens","cost","errors","error_rate","avg_latency_ms","p95_latency_ms","active_members"],"dimensions":["user","model"]}`,
		`{"metrics":["cost"],"dimensions":["tag:team","week","month","day","hour","category","billing_mode","error_type"],"filters":{"start_date":"2026-10-31","end_date":"2026-12-31"}}`,
		`{"metrics":["requests"],"dimensions":["day"],"filters":{"start_date":"2026-10-31","model":["openai/gpt-4o"],"tag:team":["a"]},"sort":[{"field":"requests","order":"desc"}],"limit":1}`,
		`{"metrics":["requests"],"filters":{"hour":["2026-10-31T22:30:00Z"],"week":["2026-W44"],"month":["2026-10"],"day":["2026-10-31"],"category":["chat_completions"],"billing_mode":["org_pays"]}}`,
		`{"metrics":["requests"],"filters":{"user":["alice"],"range":"7d"}}`,
		`{"metrics":["requests"],"filters":{"start_date":"2026-11-30","end_date":"2026-11-01"}}`,
		`{"metrics":["requests"],"limit":0}`, `{"metrics":["requests"],"limit":1e3}`, `{"metrics":["requests"],"limit":-1}`,
		`{"metrics":["requests"],"sort":[{"field":"cost"}]}`, `{"metrics":["requests"],"sort":[{"field":"requests","order":"up"}]}`,
		`{"metrics":["requests"],"foo":1}`, `{"metrics":["requests"],"metrics":[]}`,
		`{"metrics":["requests"],"filters":{"week":["2026-W"]}}`, `{"metrics":["requests"],"filters":{"week":["+026-W-1"]}}`,
		`{"metrics":["requests"],"filters":{"hour":["9999-12-31T23:59:59Z"]}}`,
		`{"metrics":["requests"],"dimensions":["tag:\u0000"]}`, "{\"metrics\":[\"\xff\"]}",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	a := newQueryAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, member bool) {
		key := qKeyAlice
		if member {
			key = qKeyBob
		}
		st, got := serve(a, "POST", "/api/analytics/query", key, string(body))
		if st != 200 && st != 400 && st != 403 {
			t.Fatalf("%q: status %d: %s", body, st, got)
		}
		if !gjson.Valid(got) || gjson.Get(got, "success").Bool() != (st == 200) {
			t.Fatalf("%q: %d %s", body, st, got)
		}
		if st == 200 {
			if rows := gjson.Get(got, "rows"); !rows.IsArray() || len(rows.Array()) > maxQueryLimit {
				t.Fatalf("%q: rows %s", body, rows.Raw)
			}
		}
	})
}
