//go:build !race

package proxy

import "testing"

// TestScrubMessageAllocs: an error message with nothing to scrub costs no
// allocation.
func TestScrubMessageAllocs(t *testing.T) {
	s := &reqState{up: &upstream{key: "upstream-secret-1", keyBytes: []byte("upstream-secret-1")}}
	msg := "Rate limit reached for gpt-4o-mini in organization org-123"
	if n := testing.AllocsPerRun(100, func() { _ = s.scrubMessage(msg) }); n != 0 {
		t.Errorf("scrubMessage of a clean message: %v allocs", n)
	}
}
