package meter

import (
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

// TestRepeats: a prompt repeats within RepeatWindow for the same org and
// model, only for successful requests with a fingerprint.
func TestRepeats(t *testing.T) {
	var r repeats
	ev := func(org, model string, hash uint64, sec int64, e usage.ErrorType) *Event {
		return &Event{Org: org, Model: model, PromptHash: hash, Time: sec * 1e9, ErrorType: e}
	}
	steps := []struct {
		name string
		ev   *Event
		want bool
	}{
		{"first", ev("acme", "m", 7, 1000, usage.ErrNone), false},
		{"same prompt", ev("acme", "m", 7, 1010, usage.ErrNone), true},
		{"other model", ev("acme", "n", 7, 1020, usage.ErrNone), false},
		{"other org", ev("globex", "m", 7, 1030, usage.ErrNone), false},
		{"failed request", ev("acme", "m", 7, 1040, usage.ErrRateLimit), false},
		{"no fingerprint", ev("acme", "m", 0, 1050, usage.ErrNone), false},
		{"no fingerprint again", ev("acme", "m", 0, 1060, usage.ErrNone), false},
		{"just inside the window", ev("acme", "m", 7, 1010+RepeatWindow-1, usage.ErrNone), true},
		{"window slides", ev("acme", "m", 7, 1010+2*RepeatWindow-2, usage.ErrNone), true},
		{"past the window", ev("acme", "m", 7, 1010+3*RepeatWindow, usage.ErrNone), false},
		{"slightly out of order", ev("acme", "m", 7, 1010+3*RepeatWindow-5, usage.ErrNone), true},
	}
	for _, s := range steps {
		if got := r.mark(s.ev); got != s.want {
			t.Fatalf("%s: repeat %v, want %v", s.name, got, s.want)
		}
	}
}

// TestRepeatsBounded: the remembered fingerprints never exceed maxPrompts;
// the old ones go first.
func TestRepeatsBounded(t *testing.T) {
	var r repeats
	for i := uint64(1); i <= maxPrompts; i++ {
		r.mark(&Event{Org: "acme", Model: "m", PromptHash: i, Time: 1e9})
	}
	if len(r.seen) != maxPrompts {
		t.Fatalf("%d remembered", len(r.seen))
	}
	// A day later the next new prompt expires every old one.
	later := (1 + RepeatWindow) * 1e9
	if r.mark(&Event{Org: "acme", Model: "m", PromptHash: maxPrompts + 1, Time: later}) {
		t.Fatal("a new prompt counted as a repeat")
	}
	if len(r.seen) != 1 {
		t.Fatalf("%d remembered after expiry, want 1", len(r.seen))
	}
	if !r.mark(&Event{Org: "acme", Model: "m", PromptHash: maxPrompts + 1, Time: later + 1e9}) {
		t.Fatal("the repeat of the kept prompt not counted")
	}
}
