package budget

import (
	"errors"
	"testing"
	"time"
)

func TestExternalSpendCountsAgainstLimits(t *testing.T) {
	l := newLedger(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	alice := member("alice", 1000)
	acme := org(5000)
	// The rest of the fleet spent 950 of alice's 1000.
	l.SetExternal("acme", "alice", now, 950)
	if _, err := l.Reserve(alice, acme, now, 51); !errors.Is(err, ErrMemberLimit) {
		t.Fatalf("reserve 51 over 950 external of 1000: %v, want ErrMemberLimit", err)
	}
	tk, err := l.Reserve(alice, acme, now, 50)
	if err != nil {
		t.Fatalf("reserve 50: %v", err)
	}
	tk.Settle(50)
	if _, err := l.Reserve(alice, acme, now, 0); !errors.Is(err, ErrMemberLimit) {
		t.Fatalf("reserve at the limit: %v, want ErrMemberLimit", err)
	}
	// The org's budget counts the fleet's org spend.
	bob := member("bob", 0)
	l.SetExternal("acme", "", now, 4900)
	if _, err := l.Reserve(bob, acme, now, 100); !errors.Is(err, ErrOrgBudget) {
		t.Fatalf("reserve 100 with 4900 external + 50 local of 5000: %v, want ErrOrgBudget", err)
	}
	// A new total replaces the old one; another month is apart.
	l.SetExternal("acme", "", now, 0)
	if _, err := l.Reserve(bob, acme, now, 100); err != nil {
		t.Fatalf("after the external spend went to 0: %v", err)
	}
	if m, o := l.External("acme", "alice", now); m != 950 || o != 0 {
		t.Fatalf("External = %d, %d; want 950, 0", m, o)
	}
	if m, o := l.External("acme", "alice", now.AddDate(0, 1, 0)); m != 0 || o != 0 {
		t.Fatalf("External next month = %d, %d; want 0, 0", m, o)
	}
	// Local spend stays local.
	if m, o := l.Spent("acme", "alice", now); m != 50 || o != 50 {
		t.Fatalf("Spent = %d, %d; want 50, 50", m, o)
	}
	got := map[string]int64{}
	l.EachSpent(now, func(org, member string, start, spent int64) {
		if s, _ := monthOf(now, berlin(t)); start != s {
			t.Fatalf("month start %d, want %d", start, s)
		}
		got[org+"/"+member] = spent
	})
	if len(got) != 3 || got["acme/"] != 50 || got["acme/alice"] != 50 || got["acme/bob"] != 0 {
		t.Fatalf("EachSpent = %v", got)
	}
}
