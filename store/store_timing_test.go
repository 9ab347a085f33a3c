package store

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/infermeter/infermeter/meter"
)

// benchCells returns n cells of one hour, as the meter flushes them.
func benchCells(n int, hour int64, requests int64) []meter.CellRecord {
	out := make([]meter.CellRecord, n)
	for i := range out {
		out[i] = meter.CellRecord{
			Key:  meter.CellKey{Org: "acme", User: fmt.Sprintf("user-%02d", i), Model: "openai/gpt-4o", Hour: hour},
			Cell: meter.Cell{Requests: requests, InputTokens: requests * 1000, CostNano: requests * 12345},
		}
	}
	return out
}

// BenchmarkApply stores batches of 1000 events and 50 cells, as one flush of
// a busy sidecar, with and without an fsync per commit, and with a small
// max_logs (every batch then evicts as many logs as it adds).
func BenchmarkApply(b *testing.B) {
	for _, c := range []struct {
		name    string
		sync    bool
		maxLogs int
	}{{"sync=false", false, 1_000_000}, {"sync=true", true, 1_000_000}, {"sync=true,max_logs=10000", true, 10_000}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{NoSync: !c.sync, MaxLogs: c.maxLogs})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const batch = 1000
			evs := genEvents("acme", baseID, batch, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range evs {
					evs[j].ID += batch * 1e6
				}
				if err := s.Apply(benchCells(50, int64(i/60), int64(i)), evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// fillStore stores n events of org acme (and n/10 of org globex) in batches
// of 1000.
func fillStore(tb testing.TB, s *Store, n int) {
	tb.Helper()
	for i := 0; i < n; i += 1000 {
		evs := genEvents("acme", baseID+uint64(i)*1e6, 1000, uint64(i))
		if i%10000 == 0 {
			evs = append(evs, genEvents("globex", baseID+uint64(i)*1e6+5e5, 1000, uint64(i+1))...)
		}
		if err := s.Apply(benchCells(5, int64(i/100000), int64(i)), evs); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLogsPage reads one page of 100 logs out of 1M stored, from the
// newest and from the middle, unfiltered and filtered.
func BenchmarkLogsPage(b *testing.B) {
	const n = 1_000_000
	s, err := Open(b.TempDir(), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillStore(b, s, n)
	mid := formatCursor(baseID + n/2*1e6)
	for _, c := range []struct {
		name string
		q    LogQuery
	}{
		{"newest", LogQuery{Org: "acme"}},
		{"middle", LogQuery{Org: "acme", Cursor: mid}},
		{"user", LogQuery{Org: "acme", User: "user-07"}},
		{"errors", LogQuery{Org: "acme", Status: "error"}},
		{"small-org", LogQuery{Org: "globex"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.q.Limit = 100
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				page, _, err := s.Logs(c.q)
				if err != nil || len(page) != 100 {
					b.Fatalf("%d logs, %v", len(page), err)
				}
			}
		})
	}
}

// BenchmarkBytesPerRequest measures the memory (Go heap, buntdb included)
// and the disk taken by each stored request log.
func BenchmarkBytesPerRequest(b *testing.B) {
	const n = 200_000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		fillStore(b, s, n)
		count := s.LogCount()
		runtime.GC()
		runtime.ReadMemStats(&after)
		fi, err := os.Stat(s.Path())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.db.Shrink(); err != nil {
			b.Fatal(err)
		}
		shrunk, err := os.Stat(s.Path())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(count), "heap-B/req")
		b.ReportMetric(float64(fi.Size())/float64(count), "disk-B/req")
		b.ReportMetric(float64(shrunk.Size())/float64(count), "shrunk-disk-B/req")
		runtime.KeepAlive(s)
		_ = s.Close()
	}
}
