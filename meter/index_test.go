package meter_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
)

// TestScanCountsEachRequestOnce records requests over days that include
// both DST changes of Berlin (and a half-hour zone) and checks, for many
// periods, that Scan with day cells, Scan with hourly cells and a sum over
// the events themselves agree exactly, per member and in total; and that
// day cells only come for whole days of the org. The sparse runs leave
// most days with one hourly cell per member and model (which then stands
// for its day) and some with two or three (which get a day cell); a second
// meter loaded from the first one's cells must scan the same.
func TestScanCountsEachRequestOnce(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "Asia/Kolkata", "UTC"} {
		for _, n := range []int{3000, 150} {
			t.Run(fmt.Sprintf("%s/%d", zone, n), func(t *testing.T) {
				loc, err := time.LoadLocation(zone)
				if err != nil {
					t.Fatal(err)
				}
				m := meter.New(meter.Options{Location: func(string) *time.Location { return loc }})
				m.Start()
				rng := rand.New(rand.NewPCG(1, 2))
				// March 27 to April 1 and October 23 to 28 (2026), every
				// request at a random second.
				var evs []meter.Event
				for _, from := range []time.Time{
					time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC),
					time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC),
				} {
					for i := 0; i < n; i++ {
						at := from.Add(time.Duration(rng.Int64N(int64(5 * 24 * time.Hour))))
						ev := meter.Event{
							Org: "acme", User: fmt.Sprintf("u%d", rng.IntN(3)), Model: fmt.Sprintf("m%d", rng.IntN(4)),
							Time: at.UnixNano(), CostNano: 1 + rng.Int64N(1000), Status: 200,
						}
						evs = append(evs, ev)
						if !m.Record(&ev) {
							t.Fatal("dropped")
						}
					}
				}
				other := meter.Event{Org: "globex", User: "u0", Model: "m0", Time: evs[0].Time, CostNano: 7, Status: 200}
				m.Record(&other)
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				loaded := meter.New(meter.Options{Location: func(string) *time.Location { return loc }})
				hourly := 0
				for k, c := range m.Cells() {
					loaded.Load(*k, *c)
					hourly++
				}
				if hourly < n/40 {
					t.Fatalf("%d hourly cells for %d requests", hourly, n)
				}

				type sum struct{ requests, cost int64 }
				check := func(start, end int64, user string) {
					t.Helper()
					var want sum
					for i := range evs {
						h := meter.HourStart(evs[i].Time, loc)
						if h >= start && h < end && (user == "" || evs[i].User == user) {
							want.requests++
							want.cost += evs[i].CostNano
						}
					}
					for _, mm := range []*meter.Meter{m, loaded} {
						for _, hourly := range []bool{false, true} {
							var got sum
							mm.Scan("acme", user, start, end, hourly, func(k *meter.CellKey, c *meter.Cell) {
								if k.Org != "acme" || (user != "" && k.User != user) {
									t.Fatalf("cell of %s/%s in a scan of acme/%q", k.Org, k.User, user)
								}
								if k.Hour != meter.HourStart(k.Hour*1e9, loc) {
									t.Fatalf("cell hour %d is not an hour start", k.Hour)
								}
								if !hourly && k.Hour == meter.DayStart(k.Hour, loc) && k.Hour < start {
									t.Fatalf("day cell of %s before the period start %s", time.Unix(k.Hour, 0), time.Unix(start, 0))
								}
								got.requests += c.Requests
								got.cost += c.CostNano
							})
							if got != want {
								t.Fatalf("Scan(%s, %s, user %q, hourly %v) = %+v, want %+v",
									time.Unix(start, 0).In(loc), time.Unix(end, 0).In(loc), user, hourly, got, want)
							}
						}
					}
				}
				lo := time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC).Unix()
				for i := 0; i < 300; i++ {
					// Hour starts of the zone, and whole local days.
					a := meter.HourStart((lo+rng.Int64N(220*86400))*1e9, loc)
					b := meter.HourStart((a+rng.Int64N(8*86400))*1e9, loc)
					if i%3 == 0 {
						a, b = meter.DayStart(a, loc), meter.DayStart(b, loc)
					}
					check(a, b, "")
					check(a, b, "u1")
				}
				// The whole of both weeks, in local days.
				check(meter.DayStart(lo, loc), meter.DayStart(lo+240*86400, loc), "")
			})
		}
	}
}

// BenchmarkScanMonth reads a 30-day month of 200 members × 10 models, busy
// every hour (1.44M hourly cells), with day cells and with hourly cells.
func BenchmarkScanMonth(b *testing.B) {
	m := meter.New(meter.Options{})
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Unix()
	for h := int64(0); h < 720; h++ {
		for u := 0; u < 200; u++ {
			for mo := 0; mo < 10; mo++ {
				m.Load(meter.CellKey{Org: "acme", User: fmt.Sprint("u", u), Model: fmt.Sprint("m", mo), Hour: from + h*3600}, meter.Cell{Requests: 7, CostNano: 100})
			}
		}
	}
	for _, hourly := range []bool{false, true} {
		b.Run(fmt.Sprintf("hourly=%v", hourly), func(b *testing.B) {
			for b.Loop() {
				var n int64
				m.Scan("acme", "", from, from+720*3600, hourly, func(_ *meter.CellKey, c *meter.Cell) { n += c.Requests })
				if n != 720*200*10*7 {
					b.Fatalf("%d requests", n)
				}
			}
		})
	}
}
