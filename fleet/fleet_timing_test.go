package fleet

import (
	"testing"
	"time"

	"github.com/infermeter/infermeter/fleet/natstest"
)

// BenchmarkPublishConsume measures events per second from a sidecar's
// store through NATS into an aggregator's store.
func BenchmarkPublishConsume(b *testing.B) {
	nats := natstest.Start(b)
	agg := startNode(b, nats.URL, RoleAggregator, "agg", b.TempDir(), nil)
	s := startNode(b, nats.URL, RoleSidecar, "s1", b.TempDir(), nil)
	b.ResetTimer()
	start := time.Now()
	s.record(b, b.N)
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if r, _ := agg.totals(); r >= int64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r, _ := agg.totals(); r != int64(b.N) {
		b.Fatalf("the aggregator counts %d of %d events", r, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
