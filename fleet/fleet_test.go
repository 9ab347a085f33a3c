package fleet

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/fleet/natstest"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/budget"
	"github.com/infermeter/infermeter/store"
)

// node is a store, a meter and a fleet part, wired as app.go wires them.
type node struct {
	st    *store.Store
	m     *meter.Meter
	f     *Fleet
	seq   atomic.Int64
	start int64
}

func startNode(t testing.TB, url, role, instance, dir string, led *budget.Ledger) *node {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{st: st, start: time.Now().UnixNano()}
	n.m = meter.New(meter.Options{
		FlushInterval: 20 * time.Millisecond,
		Logf:          t.Logf,
		Flush: func(cells []meter.CellRecord, events []meter.Event) error {
			return st.ApplyWithState(cells, events, Marks(events))
		},
		OnFlushed: func(id uint64) {
			if n.f != nil {
				n.f.Flushed(id)
			}
		},
	})
	if err := st.LoadCells(n.m.Load); err != nil {
		t.Fatal(err)
	}
	n.m.SeedID(st.NewestID())
	n.f, err = New(Options{
		Config: config.Fleet{NATSURL: url, Role: role, InstanceID: instance, Stream: "test", Replicas: 1},
		Store:  st, Meter: n.m, Budget: led, Logf: t.Logf,
		PollInterval: 10 * time.Millisecond, SyncInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.m.Start()
	if err := n.f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	return n
}

func (n *node) close() {
	if n.f == nil {
		return
	}
	_ = n.f.Close()
	_ = n.m.Close()
	_ = n.st.Close()
	n.f = nil
}

// record meters k events costing 1000 nano-dollars each.
func (n *node) record(t testing.TB, k int) {
	t.Helper()
	for range k {
		i := n.seq.Add(1)
		ev := meter.Event{Time: n.start + i, Org: "acme", User: "alice", Model: "openai/gpt-4o", Status: 200, CostNano: 1000}
		for !n.m.Record(&ev) {
			time.Sleep(time.Millisecond)
		}
	}
}

// totals returns the requests and cost the meter holds.
func (n *node) totals() (req, cost int64) {
	for _, c := range n.m.Cells() {
		req += c.Requests
		cost += c.CostNano
	}
	return req, cost
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

func TestPublishConsumeExactlyOnce(t *testing.T) {
	nats := natstest.Start(t)
	aggDir := t.TempDir()
	agg := startNode(t, nats.URL, RoleAggregator, "agg", aggDir, nil)
	s1 := startNode(t, nats.URL, RoleSidecar, "s1", t.TempDir(), nil)
	s2dir := t.TempDir()
	s2 := startNode(t, nats.URL, RoleSidecar, "s2", s2dir, nil)
	s1.record(t, 300)
	s2.record(t, 200)
	want := func(n int64) func() bool {
		return func() bool { r, c := agg.totals(); return r == n && c == n*1000 }
	}
	waitUntil(t, "500 events at the aggregator", 30*time.Second, want(500))

	// NATS goes away under load and comes back on the same port and store.
	nats.Stop()
	s1.record(t, 100)
	s2.record(t, 100)
	time.Sleep(500 * time.Millisecond)
	nats.Restart()
	s1.record(t, 50)
	waitUntil(t, "750 events after the outage", 60*time.Second, want(750))

	// A sidecar restarts on its store and republishes from its cursor;
	// the aggregator restarts on its store: nothing counts twice.
	s2.close()
	_ = s2.st // closed
	s2 = startNode(t, nats.URL, RoleSidecar, "s2", s2dir, nil)
	s2.record(t, 10)
	agg.close()
	agg = startNode(t, nats.URL, RoleAggregator, "agg", aggDir, nil)
	waitUntil(t, "760 events after the restarts", 30*time.Second, want(760))
	time.Sleep(300 * time.Millisecond)
	if r, _ := agg.totals(); r != 760 {
		t.Fatalf("the aggregator counts %d events, want 760", r)
	}
	if n := agg.st.LogCount(); n != 760 {
		t.Fatalf("the aggregator stores %d logs, want 760", n)
	}
	logs, _, err := agg.st.Logs(store.LogQuery{Org: "acme", Limit: 1})
	if err != nil || len(logs) != 1 || logs[0].Origin == "" || logs[0].OriginID == 0 {
		t.Fatalf("newest aggregated log = %+v, %v; want an origin", logs, err)
	}
}

func TestSpendSync(t *testing.T) {
	nats := natstest.Start(t)
	l1 := budget.New(budget.Options{})
	l2 := budget.New(budget.Options{})
	startNode(t, nats.URL, RoleSidecar, "s1", t.TempDir(), l1)
	startNode(t, nats.URL, RoleSidecar, "s2", t.TempDir(), l2)
	alice := &account.Member{ID: "alice", Org: "acme", MonthlyLimitNano: 10_000}
	acme := &account.Org{ID: "acme", MonthlyBudgetNano: 100_000}
	now := time.Now()
	for range 3 {
		tk, err := l1.Reserve(alice, acme, now, 3000)
		if err != nil {
			t.Fatal(err)
		}
		tk.Settle(3000)
	}
	// s2 learns that the fleet spent 9000 of alice's 10000.
	waitUntil(t, "s1's spend at s2", 30*time.Second, func() bool {
		m, o := l2.External("acme", "alice", now)
		return m == 9000 && o == 9000
	})
	if _, err := l2.Reserve(alice, acme, now, 1001); !errors.Is(err, budget.ErrMemberLimit) {
		t.Fatalf("s2 reserves 1001 over the fleet's 9000 of 10000: %v, want ErrMemberLimit", err)
	}
	if m, _ := l1.External("acme", "alice", now); m != 0 {
		t.Fatalf("s1 counts its own spend as external: %d", m)
	}
}
