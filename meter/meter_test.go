package meter_test

import (
	"sync"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

func TestHourStart(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	f := func(at string, loc *time.Location, want string) {
		t.Helper()
		ts, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatal(err)
		}
		got := time.Unix(meter.HourStart(ts.UnixNano(), loc), 0).UTC().Format(time.RFC3339)
		if got != want {
			t.Fatalf("HourStart(%s, %s) = %s, want %s", at, loc, got, want)
		}
	}
	f("2026-03-01T10:59:59.999Z", time.UTC, "2026-03-01T10:00:00Z")
	f("2026-03-01T11:00:00Z", time.UTC, "2026-03-01T11:00:00Z")
	// Half-hour offset: local hours start at :30 UTC, so the local day
	// starts at 18:30 UTC.
	f("2026-03-01T18:45:00Z", kolkata, "2026-03-01T18:30:00Z")
	f("2026-03-01T18:29:00Z", kolkata, "2026-03-01T17:30:00Z")
	// Berlin across the spring DST change (02:00 CET → 03:00 CEST on
	// 2026-03-29): 00:30 UTC is 01:30 CET, 01:30 UTC is 03:30 CEST.
	f("2026-03-29T00:30:00Z", berlin, "2026-03-29T00:00:00Z")
	f("2026-03-29T01:30:00Z", berlin, "2026-03-29T01:00:00Z")
	// Before 1970.
	f("1969-12-31T23:30:00.5Z", time.UTC, "1969-12-31T23:00:00Z")
}

func TestLatencyBucketsAndQuantile(t *testing.T) {
	for _, c := range []struct {
		micros int64
		want   int
	}{{0, 0}, {99, 0}, {100, 1}, {199, 1}, {200, 2}, {399, 2}, {400, 3}, {1 << 40, meter.LatencyBuckets - 1}} {
		if got := meter.LatencyBucket(c.micros); got != c.want {
			t.Fatalf("LatencyBucket(%d) = %d, want %d", c.micros, got, c.want)
		}
	}
	var c meter.Cell
	// 100 latencies in bucket 4 ([800µs, 1600µs)): p95 interpolates to 800 + 0.95×800.
	c.LatencyBuckets[4] = 100
	if got := c.LatencyQuantile(0.95); got != 1560 {
		t.Fatalf("p95 = %d, want 1560", got)
	}
	var empty meter.Cell
	if got := empty.LatencyQuantile(0.95); got != 0 {
		t.Fatalf("p95 of nothing = %d", got)
	}
}

func TestNextIDGrowsStrictly(t *testing.T) {
	m := meter.New(meter.Options{})
	if a, b := m.NextID(1000), m.NextID(1000); b != a+1 || a != 1000 {
		t.Fatalf("ids %d, %d", a, b)
	}
	if got := m.NextID(5); got != 1002 {
		t.Fatalf("an earlier clock still gives a larger id: got %d", got)
	}
	m.SeedID(1 << 40)
	if got := m.NextID(7); got != 1<<40+1 {
		t.Fatalf("after SeedID: %d", got)
	}
	var wg sync.WaitGroup
	seen := sync.Map{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if _, dup := seen.LoadOrStore(m.NextID(42), true); dup {
					t.Error("duplicate id")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func event(user, model string, at time.Time, in, out, cost int64, et usage.ErrorType) meter.Event {
	ev := meter.Event{Time: at.UnixNano(), Org: "acme", User: user, Model: model, Department: "r", BillingMode: "org_pays",
		Category: usage.CategoryChatCompletions, Status: 200, ErrorType: et, CostNano: cost, Priced: true, LatencyMicros: 1500}
	ev.Usage.Input.Set(in)
	ev.Usage.Output.Set(out)
	ev.Usage.Source = usage.SourceProvider
	if et != usage.ErrNone {
		ev.Status = 429
	}
	return ev
}

// TestAggregatesFlushAndRebuild records events, flushes them to a real
// store, and rebuilds the aggregates from it in a second meter.
func TestAggregatesFlushAndRebuild(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := meter.New(meter.Options{FlushInterval: 10 * time.Millisecond, Flush: st.Apply})
	m.Start()
	at := time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC)
	evs := []meter.Event{
		event("alice", "openai/gpt-4o", at, 100, 10, 1000, usage.ErrNone),
		event("alice", "openai/gpt-4o", at.Add(10*time.Minute), 200, 20, 2000, usage.ErrNone),
		event("bob", "openai/gpt-4o", at.Add(time.Hour), 300, 30, 3000, usage.ErrRateLimit),
	}
	for i := range evs {
		if !m.Record(&evs[i]) {
			t.Fatal("dropped")
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]meter.Cell{}
	n := 0
	for k, c := range m.Cells() {
		want[k.User] = *c
		n++
	}
	if n != 2 {
		t.Fatalf("%d cells, want 2 (alice 10:00, bob 11:00)", n)
	}
	a := want["alice"]
	if a.Requests != 2 || a.InputTokens != 300 || a.OutputTokens != 30 || a.CostNano != 3000 || a.Errors != 0 || a.LatencyBuckets[4] != 2 {
		t.Fatalf("alice cell %+v", a)
	}
	if b := want["bob"]; b.Requests != 1 || b.Errors != 1 || b.CostNano != 3000 {
		t.Fatalf("bob cell %+v", b)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	m2 := meter.New(meter.Options{})
	if err := st2.LoadCells(m2.Load); err != nil {
		t.Fatal(err)
	}
	n = 0
	for k, c := range m2.Cells() {
		n++
		if *c != want[k.User] {
			t.Fatalf("rebuilt cell of %s: %+v, want %+v", k.User, *c, want[k.User])
		}
		if k.Hour != at.Truncate(time.Hour).Unix() && k.Hour != at.Truncate(time.Hour).Add(time.Hour).Unix() {
			t.Fatalf("hour %d", k.Hour)
		}
	}
	if n != 2 {
		t.Fatalf("rebuilt %d cells, want 2", n)
	}
	if n := st2.LogCount(); n != 3 {
		t.Fatalf("%d logs stored, want 3", n)
	}
}

// TestFlushFailureKeepsEverything: a failing store keeps events and cells
// pending; the next successful flush writes them all once.
func TestFlushFailureKeepsEverything(t *testing.T) {
	var (
		mu      sync.Mutex
		fail    = true
		flushed []meter.Event
		cells   int
	)
	m := meter.New(meter.Options{FlushInterval: 5 * time.Millisecond, Logf: func(string, ...any) {},
		Flush: func(c []meter.CellRecord, e []meter.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errDisk
			}
			flushed = append(flushed, e...)
			cells += len(c)
			return nil
		}})
	m.Start()
	at := time.Now()
	for i := 0; i < 10; i++ {
		ev := event("alice", "m", at, 1, 1, 1, usage.ErrNone)
		m.Record(&ev)
	}
	time.Sleep(30 * time.Millisecond) // a few failing flushes happen meanwhile
	mu.Lock()
	fail = false
	mu.Unlock()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if len(flushed) != 10 || cells != 1 {
		t.Fatalf("flushed %d events and %d cells, want 10 and 1", len(flushed), cells)
	}
}

type diskError struct{}

func (diskError) Error() string { return "disk full" }

var errDisk = diskError{}
