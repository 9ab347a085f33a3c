package meter_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
)

// BenchmarkCellMemory reports the heap taken per hourly cell (B/cell) when
// cells are loaded into a meter, in the worst case for the day cells (every
// cell in one hour, so each stands for its own day) and in a busy month
// (every member and model in every hour, so each day has a day cell per
// combination besides its 24 hourly cells).
func BenchmarkCellMemory(b *testing.B) {
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, c := range []struct {
		name                 string
		hours, users, models int
	}{
		{"one-hour-200k", 1, 4000, 50},
		{"month-216k", 720, 30, 10},
	} {
		b.Run(c.name, func(b *testing.B) {
			var perCell float64
			for b.Loop() {
				before := heapInUse()
				m := meter.New(meter.Options{})
				for h := 0; h < c.hours; h++ {
					for u := 0; u < c.users; u++ {
						for mo := 0; mo < c.models; mo++ {
							k := meter.CellKey{Org: "acme", User: fmt.Sprintf("user-%06d", u), Model: fmt.Sprintf("openai/model-%02d", mo),
								Department: "eng", BillingMode: "org_pays", Hour: from + int64(h)*3600}
							m.Load(k, meter.Cell{Requests: 3, CostNano: 1000})
						}
					}
				}
				perCell = float64(heapInUse()-before) / float64(c.hours*c.users*c.models)
				runtime.KeepAlive(m)
			}
			b.ReportMetric(perCell, "B/cell")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
