package feed

import (
	"testing"
	"time"
)

// BenchmarkPublish measures Publish, the meter goroutine's cost per event:
// with no subscriber, with 10 admins of the event's org whose queues are
// drained, and with one subscriber that never drains (dropped at its first
// full queue, then skipped until its connection removes it).
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name       string
		fast, slow int
	}{{"subscribers=0", 0, 0}, {"subscribers=10", 10, 0}, {"slow=1", 0, 1}} {
		b.Run(bc.name, func(b *testing.B) {
			dir := testDir(b)
			h := New(Options{Accounts: dir, Meter: newMeter(b, dir), Now: func() time.Time { return testNow }, Buffer: 4096})
			alice, _ := dir.Member("acme", "alice")
			var fast []*sub
			for range bc.fast {
				s := newSub(alice, kindRequest, 4096)
				fast = append(fast, s)
				h.add(s)
			}
			for range bc.slow {
				h.add(newSub(alice, kindRequest, 4096))
			}
			ev := gpt(1, "acme", "bob", 210_000)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.Publish(ev)
				if i++; i%1024 == 0 && len(fast) > 0 {
					// The readers, outside the measure: they empty the queues
					// long before they fill.
					b.StopTimer()
					for _, s := range fast {
						for len(s.out) > 0 {
							<-s.out
						}
					}
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(h.dropped.Get()), "dropped")
		})
	}
}

// BenchmarkEncode measures the encoding of one request event.
func BenchmarkEncode(b *testing.B) {
	ev := gpt(1, "acme", "bob", 210_000)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendRequest(buf[:0], ev)
	}
	b.SetBytes(int64(len(buf)))
}
