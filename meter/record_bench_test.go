package meter

import (
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter/usage"
)

// BenchmarkRecord measures what one request costs the meter: the hand-off
// (Record) plus its aggregation into the hourly and day cells and the
// pending logs, with the aggregator's take every 256 events (about every
// 5 ms at 50k req/s) and a flush (here: dropping the pending logs) every
// 16,384, all on one goroutine so that the figure is CPU per event, not
// the speed of an overloaded pipeline.
func BenchmarkRecord(b *testing.B) {
	m := New(Options{QueueSize: 1 << 20})
	ev := Event{Time: time.Now().UnixNano(), Org: "acme", User: "alice", Model: "openai/gpt-4o", Department: "r",
		BillingMode: "org_pays", Category: usage.CategoryChatCompletions, Status: 200, CostNano: 1000, Priced: true,
		LatencyMicros: 1500, PromptHash: 7}
	ev.Usage.Input.Set(100)
	ev.Usage.Output.Set(10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.ID = 0
		m.Record(&ev)
		i++
		if i%256 == 0 {
			m.take()
		}
		if i%16384 == 0 {
			m.flush()
		}
	}
}
