package api

import (
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// errorsFixture records requests around the DST change of 2026-03-29 in
// Berlin (clocks go from 02:00 CET to 03:00 CEST) through a real meter whose
// flushes go to a real store, so cells and logs agree, plus one stored cell
// with an error whose log is gone. Now is 2026-03-31 12:00.
func errorsFixture(t *testing.T) *API {
	t.Helper()
	loc := insBerlin(t)
	dir := insDirectory(t, loc)
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m := meter.New(meter.Options{Location: dir.Location, Flush: st.Apply})
	// Two requests of bob on 2026-03-30, one failed, logs dropped.
	old := insCell(t, loc, "bob", "anthropic/claude-haiku-4-5", usage.CategoryChatCompletions, "2026-03-30 12:00", meter.Cell{Requests: 2, Errors: 1})
	m.Load(old.Key, old.Cell)
	m.Start()
	const gpt, claude = "openai/gpt-4o", "anthropic/claude-haiku-4-5"
	for _, ev := range []meter.Event{
		insEvent(t, loc, "2026-03-27 23:59", "alice", gpt, 500, usage.ErrModel, 0), // before the period
		insEvent(t, loc, "2026-03-28 23:30", "alice", gpt, 200, usage.ErrNone, 1000),
		// 00:30 CET is still 2026-03-28 in UTC: the day is the org's.
		insEvent(t, loc, "2026-03-29 00:30", "alice", gpt, 429, usage.ErrRateLimit, 0),
		insEvent(t, loc, "2026-03-29 03:30", "bob", claude, 500, usage.ErrModel, 0),
		insEvent(t, loc, "2026-03-29 23:30", "bob", claude, 200, usage.ErrNone, 1000),
		// 00:15 CEST is 2026-03-29 in UTC.
		insEvent(t, loc, "2026-03-30 00:15", "alice", gpt, 504, usage.ErrTimeout, 0),
		insEvent(t, loc, "2026-03-30 10:00", "alice", gpt, 200, usage.ErrNone, 1000),
		insEvent(t, loc, "2026-03-30 10:00", "bob", claude, 200, usage.ErrNone, 1000),
		insEvent(t, loc, "2026-03-31 00:00", "alice", gpt, 429, usage.ErrRateLimit, 0), // after it
	} {
		ev.ID = 0 // the meter assigns IDs from the time
		if !m.Record(&ev) {
			t.Fatal("the meter dropped an event")
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cat, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	now := insLocal(t, loc, "2026-03-31 12:00")
	return New(Options{Accounts: dir, Meter: m, Store: st, Catalog: cat, Now: func() time.Time { return now }})
}

func TestErrorsReport(t *testing.T) {
	a := errorsFixture(t)
	f := func(key, query string, want map[string]string) {
		t.Helper()
		st, j := insGet(t, a, key, "/api/account/errors"+query)
		if st != 200 || !j.Get("success").Bool() {
			t.Fatalf("%d %s", st, j.Raw)
		}
		for path, w := range want {
			if got := j.Get("errors." + path).Raw; got != w {
				t.Fatalf("%s%s: %s = %s, want %s in %s", key, query, path, got, w, j.Raw)
			}
		}
	}
	// In 2026-03-28..2026-03-30: nine requests (seven recorded, two in the
	// stored cell), four errors: rate_limit, model_error, timeout and the
	// stored cell's unclassified one. error_rate 4 / 9.
	f(insKeyAlice, "?start_date=2026-03-28&end_date=2026-03-30", map[string]string{
		"period":         `{"start":"2026-03-28T00:00:00+01:00","end":"2026-03-31T00:00:00+02:00","timezone":"Europe/Berlin","days":3}`,
		"total_requests": "9",
		"total_errors":   "4",
		"error_rate":     "0.4444444444444444",
		"by_type":        `[{"type":"model_error","count":1},{"type":"rate_limit","count":1},{"type":"timeout","count":1},{"type":"unclassified","count":1}]`,
		"by_model":       `[{"model":"anthropic/claude-haiku-4-5","errors":2,"requests":5,"error_rate":0.4},{"model":"openai/gpt-4o","errors":2,"requests":4,"error_rate":0.5}]`,
		"by_day":         `[{"day":"2026-03-28","errors":0,"requests":1},{"day":"2026-03-29","errors":2,"requests":3},{"day":"2026-03-30","errors":2,"requests":5}]`,
	})
	// A member sees only its own requests.
	f(insKeyBob, "?start_date=2026-03-28&end_date=2026-03-30", map[string]string{
		"total_requests": "5",
		"total_errors":   "2",
		"error_rate":     "0.4",
		"by_type":        `[{"type":"model_error","count":1},{"type":"unclassified","count":1}]`,
		"by_model":       `[{"model":"anthropic/claude-haiku-4-5","errors":2,"requests":5,"error_rate":0.4}]`,
		"by_day":         `[{"day":"2026-03-29","errors":1,"requests":2},{"day":"2026-03-30","errors":1,"requests":3}]`,
	})
	// RFC 3339 bounds select whole hours, the logs the same hours: from
	// 2026-03-29 03:00 CEST (01:00Z) to 2026-03-30 01:00 CEST.
	f(insKeyAlice, "?start_date=2026-03-29T01:00:00Z&end_date=2026-03-29T23:00:00Z", map[string]string{
		"total_requests": "3",
		"total_errors":   "2",
		"by_type":        `[{"type":"model_error","count":1},{"type":"timeout","count":1}]`,
	})
	// The default period (the last 30 days) holds all eleven requests.
	f(insKeyAlice, "", map[string]string{
		"total_requests": "11",
		"total_errors":   "6",
		"by_type":        `[{"type":"model_error","count":2},{"type":"rate_limit","count":2},{"type":"timeout","count":1},{"type":"unclassified","count":1}]`,
	})
	// No traffic: zeros and empty lists.
	f(insKeyEve, "", map[string]string{
		"total_requests": "0",
		"total_errors":   "0",
		"error_rate":     "0",
		"by_type":        `[]`,
		"by_model":       `[]`,
		"by_day":         `[]`,
	})
}
