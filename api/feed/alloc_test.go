//go:build !race

package feed

import (
	"testing"
	"time"
)

// TestPublishAllocs guards the meter's goroutine: Publish allocates nothing
// without a matching subscriber, and one message per event otherwise.
func TestPublishAllocs(t *testing.T) {
	dir := testDir(t)
	h := New(Options{Accounts: dir, Meter: newMeter(t, dir), Now: func() time.Time { return testNow }})
	ev := gpt(1, "acme", "bob", 1)
	h.Publish(ev) // creates bob's and acme's spends
	if n := testing.AllocsPerRun(1000, func() { h.Publish(ev) }); n != 0 {
		t.Fatalf("no subscriber: %v allocations per event", n)
	}
	eve, _ := dir.Member("globex", "eve")
	h.add(newSub(eve, kindRequest, 1)) // another org's
	if n := testing.AllocsPerRun(1000, func() { h.Publish(ev) }); n != 0 {
		t.Fatalf("another org's subscriber: %v allocations per event", n)
	}
	alice, _ := dir.Member("acme", "alice")
	s := newSub(alice, kindRequest, 4096)
	h.add(s)
	h.add(newSub(alice, kindRequest, 4096))
	if n := testing.AllocsPerRun(1000, func() { h.Publish(ev) }); n != 1 {
		t.Fatalf("two subscribers: %v allocations per event, want 1 (the shared message)", n)
	}
}
