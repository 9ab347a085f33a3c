package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

func loadCells(t testing.TB, s *Store) map[meter.CellKey]meter.Cell {
	t.Helper()
	got := make(map[meter.CellKey]meter.Cell)
	if err := s.LoadCells(func(k meter.CellKey, c meter.Cell) {
		if _, dup := got[k]; dup {
			t.Errorf("cell %+v loaded twice", k)
		}
		got[k] = c
	}); err != nil {
		t.Fatalf("LoadCells: %v", err)
	}
	return got
}

func testCells() []meter.CellRecord {
	var out []meter.CellRecord
	for i := range 5 {
		k := meter.CellKey{
			Org: "acme", User: fmt.Sprintf("u%d", i), Model: "openai/gpt-4o", Department: "d,=\x00",
			BillingMode: "org_pays", Tags: "env=prod", Category: usage.CategoryChatCompletions,
			Hour: 1735689600 + int64(i)*3600,
		}
		c := meter.Cell{Requests: int64(i + 1), InputTokens: 100 * int64(i), CostNano: 7, TTFTCount: 1}
		c.LatencyBuckets[i] = uint32(i + 1)
		out = append(out, meter.CellRecord{Key: k, Cell: c})
	}
	// Another org with empty strings everywhere and a negative hour.
	out = append(out, meter.CellRecord{Key: meter.CellKey{Org: "other", Hour: -3600}, Cell: meter.Cell{Requests: 1}})
	return out
}

func TestApplyReopenLoadCells(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	cells := testCells()
	if err := s.Apply(cells[:3], nil); err != nil {
		t.Fatal(err)
	}
	// Overwrite one cell and add the rest.
	cells[1].Cell.Requests = 42
	if err := s.Apply(cells[1:], genEvents("acme", baseID, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	want := make(map[meter.CellKey]meter.Cell)
	for _, c := range cells {
		want[c.Key] = c.Cell
	}
	if got := loadCells(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("cells after reopen:\n got %+v\nwant %+v", got, want)
	}
	if n := s.LogCount(); n != 10 {
		t.Fatalf("LogCount = %d, want 10", n)
	}
}

func TestApplyReopenLogs(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	evs := append(genEvents("acme", baseID, 150, 1), fullEvent(baseID+1e12))
	// Three batches, so tail blocks are reopened and appended to.
	for _, part := range [][]meter.Event{evs[:1], evs[1:100], evs[100:]} {
		if err := s.Apply(nil, part); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		got, next, err := s.Logs(LogQuery{Org: "acme", Limit: 1000})
		if err != nil || next != "" {
			t.Fatalf("Logs: next %q, err %v", next, err)
		}
		want := slices.Clone(evs)
		slices.Reverse(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Logs returned %d events, want %d (ids %v)", len(got), len(want), ids(got)[:5])
		}
		e, ok, err := s.Log("acme", evs[77].ID)
		if err != nil || !ok || !reflect.DeepEqual(e, evs[77]) {
			t.Fatalf("Log = %+v, %v, %v; want %+v", e, ok, err, evs[77])
		}
		for _, q := range []struct {
			org string
			id  uint64
		}{{"acme", evs[77].ID + 1}, {"other", evs[77].ID}, {"acme", baseID - 1}} {
			if _, ok, err := s.Log(q.org, q.id); ok || err != nil {
				t.Fatalf("Log(%q, %d) = %v, %v; want not found", q.org, q.id, ok, err)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, dir, Options{}))
}

func TestApplyDuplicatesAndOutOfOrder(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	evs := genEvents("acme", baseID, 200, 1)
	// Odd events first, then everything (a retried batch with the gaps).
	var odd []meter.Event
	for i := 1; i < len(evs); i += 2 {
		odd = append(odd, evs[i])
	}
	if err := s.Apply(nil, odd); err != nil {
		t.Fatal(err)
	}
	shuffled := slices.Clone(evs)
	slices.Reverse(shuffled)
	if err := s.Apply(nil, append(shuffled, evs[5], evs[6])); err != nil {
		t.Fatal(err)
	}
	if n := s.LogCount(); n != 200 {
		t.Fatalf("LogCount = %d, want 200", n)
	}
	got, _, err := s.Logs(LogQuery{Org: "acme", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(evs)
	slices.Reverse(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("logs after out of order inserts differ: got ids %v", ids(got))
	}
}

func TestLogsPagingStable(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	evs := genEvents("acme", baseID, 1000, 1)
	if err := s.Apply(nil, evs[:500]); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	cursor := ""
	next := 500
	for page := 0; ; page++ {
		got, c, err := s.Logs(LogQuery{Org: "acme", Limit: 70, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(got)...)
		if c == "" {
			if len(got) > 70 {
				t.Fatalf("last page has %d logs", len(got))
			}
			break
		}
		if len(got) != 70 {
			t.Fatalf("page %d has %d logs, want 70", page, len(got))
		}
		cursor = c
		// New events arrive between pages.
		if next < len(evs) {
			if err := s.Apply(nil, evs[next:next+100]); err != nil {
				t.Fatal(err)
			}
			next += 100
		}
	}
	// Exactly the first 500 events, newest first: no duplicates, no gaps.
	want := ids(evs[:500])
	slices.Reverse(want)
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("paged ids (%d) differ from the first 500 newest first", len(seen))
	}
}

func TestLogsFilters(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	evs := genEvents("acme", baseID, 600, 9)
	evs = append(evs, genEvents("globex", baseID+1e9+1, 50, 10)...)
	if err := s.Apply(nil, evs); err != nil {
		t.Fatal(err)
	}
	f := func(name string, q LogQuery, keep func(e *meter.Event) bool) {
		t.Helper()
		var want []uint64
		for i := len(evs) - 1; i >= 0; i-- {
			if evs[i].Org == q.Org && keep(&evs[i]) {
				want = append(want, evs[i].ID)
			}
		}
		var got []uint64
		q.Limit = 37
		for {
			page, next, err := s.Logs(q)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, ids(page)...)
			if next == "" {
				break
			}
			q.Cursor = next
		}
		if len(want) == 0 && name != "unknown user" {
			t.Fatalf("%s: the test data has no match", name)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %d logs, want %d", name, len(got), len(want))
		}
	}
	all := func(*meter.Event) bool { return true }
	f("org", LogQuery{Org: "acme"}, all)
	f("other org", LogQuery{Org: "globex"}, all)
	f("user", LogQuery{Org: "acme", User: "user-07"}, func(e *meter.Event) bool { return e.User == "user-07" })
	f("unknown user", LogQuery{Org: "acme", User: "nobody"}, func(*meter.Event) bool { return false })
	f("model", LogQuery{Org: "acme", Model: "openai/gpt-4o"}, func(e *meter.Event) bool { return e.Model == "openai/gpt-4o" })
	f("department", LogQuery{Org: "acme", Department: "sales"}, func(e *meter.Event) bool { return e.Department == "sales" })
	f("success", LogQuery{Org: "acme", Status: "success"}, func(e *meter.Event) bool { return !e.Failed() })
	f("error", LogQuery{Org: "acme", Status: "error"}, func(e *meter.Event) bool { return e.Failed() })
	f("error type", LogQuery{Org: "acme", ErrorType: "rate_limit"}, func(e *meter.Event) bool { return e.ErrorType == usage.ErrRateLimit })
	f("tag", LogQuery{Org: "acme", Tag: "team=search"}, func(e *meter.Event) bool { return e.Tags == "env=prod,team=search" })
	f("tag value", LogQuery{Org: "acme", Tag: "env=prod"}, func(e *meter.Event) bool { return strings.HasPrefix(e.Tags, "env=prod") })
	f("tag key", LogQuery{Org: "acme", Tag: "env"}, func(e *meter.Event) bool { return e.Tags != "" })
	lo, hi := evs[100].ID, evs[400].ID
	f("time range", LogQuery{Org: "acme", StartID: lo, EndID: hi}, func(e *meter.Event) bool { return e.ID >= lo && e.ID < hi })
	f("start only", LogQuery{Org: "acme", StartID: lo}, func(e *meter.Event) bool { return e.ID >= lo })
	f("combined", LogQuery{Org: "acme", User: "user-03", Status: "success", EndID: hi},
		func(e *meter.Event) bool { return e.User == "user-03" && !e.Failed() && e.ID < hi })

	for _, q := range []LogQuery{{Org: "acme", Status: "failed"}, {Org: "acme", ErrorType: "boom"}} {
		if _, _, err := s.Logs(q); !errors.Is(err, ErrBadQuery) {
			t.Fatalf("Logs(%+v) err = %v, want ErrBadQuery", q, err)
		}
	}
	if got, _, err := s.Logs(LogQuery{Org: "nobody"}); err != nil || len(got) != 0 {
		t.Fatalf("unknown org: %d logs, %v", len(got), err)
	}
	if got, _, _ := s.Logs(LogQuery{Org: "acme"}); len(got) != DefaultLogLimit {
		t.Fatalf("default limit: %d logs", len(got))
	}
}

func TestBadCursor(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	if err := s.Apply(nil, genEvents("acme", baseID, 10, 1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"x", "c", "c0", "c!!", "czzzzzzzzzzzzzzzzzzzzz", "c00a", "C1"} {
		if _, _, err := s.Logs(LogQuery{Org: "acme", Cursor: c}); !errors.Is(err, ErrBadCursor) {
			t.Fatalf("cursor %q: err = %v, want ErrBadCursor", c, err)
		}
	}
	_, next, err := s.Logs(LogQuery{Org: "acme", Limit: 3})
	if err != nil || next == "" {
		t.Fatalf("first page: %q, %v", next, err)
	}
	if _, _, err := s.Logs(LogQuery{Org: "acme", Cursor: next}); err != nil {
		t.Fatalf("good cursor: %v", err)
	}
}

func TestMaxLogsEviction(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{MaxLogs: 250})
	// Two orgs interleaved in time: acme even milliseconds, globex odd ones.
	a := genEvents("acme", baseID, 300, 1)
	g := genEvents("globex", baseID+5e5, 300, 2)
	cells := testCells()
	if err := s.Apply(cells, append(slices.Clone(a[:100]), g[:100]...)); err != nil {
		t.Fatal(err)
	}
	if n := s.LogCount(); n != 200 {
		t.Fatalf("LogCount = %d, want 200", n)
	}
	for i := 100; i < 300; i += 50 {
		if err := s.Apply(nil, append(slices.Clone(a[i:i+50]), g[i:i+50]...)); err != nil {
			t.Fatal(err)
		}
		if n := s.LogCount(); n != 250 {
			t.Fatalf("LogCount = %d, want 250", n)
		}
	}
	check := func(s *Store) {
		t.Helper()
		// The 250 newest across both orgs: acme from a[175], globex from g[175].
		ga, _, _ := s.Logs(LogQuery{Org: "acme", Limit: 1000})
		gg, _, _ := s.Logs(LogQuery{Org: "globex", Limit: 1000})
		wantA, wantG := ids(a[175:]), ids(g[175:])
		slices.Reverse(wantA)
		slices.Reverse(wantG)
		if !slices.Equal(ids(ga), wantA) || !slices.Equal(ids(gg), wantG) {
			t.Fatalf("kept acme %d (oldest %d), globex %d (oldest %d); want 125 each from index 175",
				len(ga), ga[len(ga)-1].ID-baseID, len(gg), gg[len(gg)-1].ID-baseID)
		}
		want := make(map[meter.CellKey]meter.Cell)
		for _, c := range cells {
			want[c.Key] = c.Cell
		}
		if got := loadCells(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("eviction changed cells")
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{MaxLogs: 250})
	if n := s.LogCount(); n != 250 {
		t.Fatalf("LogCount after reopen = %d, want 250", n)
	}
	check(s)
	// A lower limit at the next start applies at the next Apply.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{MaxLogs: 10})
	if err := s.Apply(testCells()[:1], nil); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Logs(LogQuery{Org: "acme"})
	if s.LogCount() != 10 || len(got) != 5 || got[4].ID != a[295].ID {
		t.Fatalf("after lowering MaxLogs: count %d, acme %v", s.LogCount(), ids(got))
	}
}

func TestEvictExpired(t *testing.T) {
	now := time.Unix(0, int64(baseID)).Add(time.Hour)
	clock := func() time.Time { return now }
	s := openTest(t, t.TempDir(), Options{LogRetention: 30 * time.Minute, Now: clock})
	// One event per minute for two hours from baseID - 1h.
	var evs []meter.Event
	for i := range 120 {
		e := fullEvent(baseID - uint64(time.Hour) + uint64(i)*uint64(time.Minute))
		e.Time = int64(e.ID)
		evs = append(evs, e)
	}
	cells := testCells()
	if err := s.Apply(cells, evs); err != nil {
		t.Fatal(err)
	}
	// The cutoff is baseID + 30m: events 0..89 are older.
	n, err := s.EvictExpired()
	if err != nil || n != 90 {
		t.Fatalf("EvictExpired = %d, %v; want 90", n, err)
	}
	if s.LogCount() != 30 {
		t.Fatalf("LogCount = %d, want 30", s.LogCount())
	}
	got, _, _ := s.Logs(LogQuery{Org: "acme", Limit: 1000})
	want := ids(evs[90:])
	slices.Reverse(want)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("kept %v", ids(got))
	}
	if n, err := s.EvictExpired(); n != 0 || err != nil {
		t.Fatalf("second EvictExpired = %d, %v", n, err)
	}
	now = now.Add(time.Hour)
	if n, err := s.EvictExpired(); n != 30 || err != nil || s.LogCount() != 0 {
		t.Fatalf("third EvictExpired = %d, %v, count %d", n, err, s.LogCount())
	}
	if len(loadCells(t, s)) != len(cells) {
		t.Fatalf("retention evicted cells")
	}
	// No retention: nothing is ever evicted.
	s2 := openTest(t, t.TempDir(), Options{Now: clock})
	if err := s2.Apply(nil, evs); err != nil {
		t.Fatal(err)
	}
	if n, err := s2.EvictExpired(); n != 0 || err != nil || s2.LogCount() != 120 {
		t.Fatalf("EvictExpired without retention = %d, %v", n, err)
	}
}

func TestState(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	put := map[string]string{
		"members/acme/u1": "alice", "members/acme/u2": "bob", "members/acmf/u3": "carol",
		"alerts/1": "{}", "bin\x00\xff": "\x00\x01", "": "empty key",
	}
	for k, v := range put {
		if err := s.PutState(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteState("members/acme/u2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState("never-there"); err != nil {
		t.Fatalf("DeleteState of a missing key: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	v, ok, err := s.GetState("bin\x00\xff")
	if err != nil || !ok || string(v) != "\x00\x01" {
		t.Fatalf("GetState = %q, %v, %v", v, ok, err)
	}
	if _, ok, err := s.GetState("members/acme/u2"); ok || err != nil {
		t.Fatalf("deleted key: %v, %v", ok, err)
	}
	var keys []string
	if err := s.ScanState("members/acme/", func(k string, v []byte) bool {
		keys = append(keys, k+"="+string(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"members/acme/u1=alice"}; !slices.Equal(keys, want) {
		t.Fatalf("ScanState = %q, want %q", keys, want)
	}
	keys = nil
	_ = s.ScanState("", func(k string, _ []byte) bool { keys = append(keys, k); return len(keys) < 3 })
	if want := []string{"", "alerts/1", "bin\x00\xff"}; !slices.Equal(keys, want) {
		t.Fatalf("ScanState stopping at 3 = %q, want %q", keys, want)
	}
	// State never shows up as logs or cells.
	if len(loadCells(t, s)) != 0 || s.LogCount() != 0 {
		t.Fatalf("state leaked into cells or logs")
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(testCells(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if _, _, err := s.Logs(LogQuery{Org: "acme"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Logs after Close: %v", err)
	}
	if err := s.PutState("k", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutState after Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	f := func(name string, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, Options{NoSync: true})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
			t.Fatalf("%s: err = %v, want ErrCorrupt naming %s", name, err, path)
		}
	}
	f("garbage", "this is not a database\n")
	f("binary garbage", "\xde\xad\xbe\xef\x00\x01")
	f("other buntdb file", "*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n")
	f("future schema", "*3\r\n$3\r\nset\r\n$1\r\nv\r\n$1\r\n9\r\n")
	f("bad block", "*3\r\n$3\r\nset\r\n$1\r\nv\r\n$1\r\n1\r\n*3\r\n$3\r\nset\r\n$13\r\nl\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\r\n$1\r\nx\r\n")

	if _, err := Open(filepath.Join(path, "sub"), Options{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("dir under a file: err = %v", err)
	}
	if _, err := Open(dir, Options{MaxLogs: -1}); err == nil || !strings.Contains(err.Error(), "max_logs") {
		t.Fatalf("negative MaxLogs: err = %v", err)
	}
}

// TestTruncatedFile cuts the file at many points inside the last batches,
// as a crash in the middle of a write would, and checks that it reopens
// with every batch before the tear intact, logs and cells agreeing.
func TestTruncatedFile(t *testing.T) {
	const batches, per = 6, 40
	// The cell counts every event so far: cells and logs must agree.
	full, sizes, _, evs := faultFileWith(t, Options{}, batches, per, 5)
	// state returns how many batches the store holds, checking that logs
	// and cells agree and that the logs are exactly the first ones.
	state := func(dir string) int {
		t.Helper()
		s := openTest(t, dir, Options{})
		defer s.Close()
		cells := loadCells(t, s)
		n := int(cells[meter.CellKey{Org: "acme", Hour: 1}].Requests)
		got, _, err := s.Logs(LogQuery{Org: "acme", Limit: MaxLogLimit})
		if err != nil {
			t.Fatal(err)
		}
		want := ids(evs[:n])
		slices.Reverse(want)
		if s.LogCount() != n || !slices.Equal(ids(got), want) {
			t.Fatalf("cells count %d requests, store holds %d logs", n, s.LogCount())
		}
		if n%per != 0 {
			t.Fatalf("half a batch: %d logs", n)
		}
		return n / per
	}
	for k := 2; k <= batches; k++ {
		lo, hi := sizes[k-1], sizes[k]
		cuts := []int64{lo + 1, lo + 20, lo + (hi-lo)/3, lo + (hi-lo)/2, lo + 2*(hi-lo)/3, hi - 100, hi - 1}
		for _, cut := range cuts {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), full[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			got := state(dir)
			switch {
			case cut == hi-1 && got != k:
				// The journal is whole, the batch torn: replay completes it.
				t.Fatalf("cut at %d (batch %d ends at %d): %d batches, want %d", cut, k, hi, got, k)
			case cut == lo+1 && got != k-1:
				t.Fatalf("cut at %d (batch %d starts at %d): %d batches, want %d", cut, k, lo, got, k-1)
			case got != k && got != k-1:
				t.Fatalf("cut at %d: %d batches, want %d or %d", cut, got, k-1, k)
			}
			// The repaired file takes new batches and reopens.
			s := openTest(t, dir, Options{})
			more := genEvents("acme", baseID+1e15, 10, 6)
			if err := s.Apply(nil, more); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			s = openTest(t, dir, Options{})
			if s.LogCount() != got*per+10 {
				t.Fatalf("after repair and one more batch: %d logs, want %d", s.LogCount(), got*per+10)
			}
			_ = s.Close()
		}
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{MaxLogs: 1000})
	evs := genEvents("acme", baseID, 2000, 3)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				page, _, err := s.Logs(LogQuery{Org: "acme", User: fmt.Sprintf("user-%02d", r), Limit: 50})
				if err == nil {
					for i := 1; i < len(page); i++ {
						if page[i].ID >= page[i-1].ID {
							err = fmt.Errorf("page not newest first")
						}
					}
				}
				if err == nil && len(page) > 0 {
					_, _, err = s.Log("acme", page[0].ID)
				}
				if err == nil {
					_, _, err = s.GetState("k")
				}
				if err == nil && s.LogCount() > 1000 {
					err = fmt.Errorf("LogCount %d above MaxLogs", s.LogCount())
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < len(evs); i += 200 {
		if err := s.Apply(testCells(), evs[i:i+200]); err != nil {
			t.Fatal(err)
		}
		if err := s.PutState("k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.LogCount() != 1000 {
		t.Fatalf("LogCount = %d", s.LogCount())
	}
}

// TestDamagedFileRefused flips a length in the middle of a real store file:
// buntdb alone would take it for a torn tail and drop everything after it.
func TestDamagedFileRefused(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	for i := range 4 {
		if err := s.Apply(testCells(), genEvents("acme", baseID+uint64(i)*1e12, 100, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The first "$<n>\r\n" header after the middle gets a huge length.
	i := len(data)/2 + strings.Index(string(data[len(data)/2:]), "\r\n$") + 3
	at := int64(strings.LastIndex(string(data[:i]), "*3\r\n"))
	damaged := slices.Concat(data[:i], []byte("9999999"), data[i:])
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{NoSync: true})
	want := fmt.Sprintf("the first %d bytes are intact", at)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrCorrupt saying %q", err, want)
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(len(damaged)) {
		t.Fatalf("a refused file was changed: %d bytes, was %d", fi.Size(), len(damaged))
	}
}

func FuzzScanCommand(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nset\r\n$1\r\nv\r\n$1\r\n1\r\n"))
	f.Add([]byte("\x00\x00*2\r\n$3\r\ndel\r\n$1\r\nk\r\n"))
	f.Add([]byte("*3\r\n$3\r\nset\r\n$99999999999999\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := checkFile(path); err != nil {
			var fd *fileDamage
			if !errors.As(err, &fd) || fd.at > int64(len(data)) {
				t.Fatalf("err = %v", err)
			}
		}
	})
}

// TestOpenLeavesAppliedJournal: opening a store whose journal's writes are
// all in it writes nothing (so a store on a full disk opens), while one
// whose last batch is torn is still completed (TestTruncatedFile).
func TestOpenLeavesAppliedJournal(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	for i := range 3 {
		if err := s.Apply(nil, genEvents("acme", baseID+uint64(i)*1e12, 50, 4)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	path := filepath.Join(dir, FileName)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	want := size()
	for range 2 {
		s = openTest(t, dir, Options{})
		if s.LogCount() != 150 {
			t.Fatalf("%d logs, want 150", s.LogCount())
		}
		_ = s.Close()
		if got := size(); got != want {
			t.Fatalf("opening the store changed its size from %d to %d bytes", want, got)
		}
	}
}
