package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// BenchmarkUsageRoute30Days times the usage route over a month of 200
// members × 10 models busy every hour (1.44M hourly cells), the shape of
// the 10M-request analytics run of make bench.
func BenchmarkUsageRoute30Days(b *testing.B) {
	loc := time.UTC
	now := time.Date(2026, 3, 31, 12, 30, 0, 0, loc)
	var cells []meter.CellRecord
	from := now.Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	for h := from; h.Before(now); h = h.Add(time.Hour) {
		for u := 0; u < 200; u++ {
			for m := 0; m < 10; m++ {
				user := fmt.Sprint("u", u)
				if u == 0 {
					user = "alice"
				}
				cells = append(cells, meter.CellRecord{
					Key:  meter.CellKey{Org: "acme", User: user, Model: fmt.Sprint("openai/m", m), Department: "research", BillingMode: "org_pays", Category: usage.CategoryChatCompletions, Hour: h.Unix()},
					Cell: meter.Cell{Requests: 7, InputTokens: 7000, OutputTokens: 700, CostNano: 7_000_000, LatencyMicros: 7000, LatencyBuckets: [meter.LatencyBuckets]uint32{4: 7}},
				})
			}
		}
	}
	a := insAPI(b, loc, now, cells, nil)
	cells = nil
	for _, g := range []string{"user", "model", "day"} {
		b.Run(g, func(b *testing.B) {
			for b.Loop() {
				st, j := insGet(b, a, insKeyAlice, "/api/organizations/acme/usage?group_by="+g)
				if st != 200 || j.Get("overview.requests").Int() == 0 {
					b.Fatalf("%d %s", st, j.Raw)
				}
			}
		})
	}
}
