package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// BenchmarkExportCSV1M stores 1M request logs of one org (in batches of
// 1000, as the meter flushes them) and exports them all as CSV through the
// admin handler, served over an in-memory listener to a net/http client
// that reads the body as it arrives. Besides rows/s it reports the memory
// of the whole process before the export and the peak during it, sampled
// every 5 ms: the live heap (found by a full GC every 100,000 rows) and the
// resident set (Linux). It exports the newest 100,000 logs, then all 1M:
// flat memory means the same peaks for both, within a few MB of the figures
// before, although the 1M body is 186 MB.
//
//	go test ./api -run '^$' -bench ExportCSV1M -benchtime 1x
func BenchmarkExportCSV1M(b *testing.B) {
	const n = 1_000_000
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedLogs(b, st, n)

	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme", Location: time.UTC})
	if err := dir.PutMember(account.Member{ID: "admin", Org: "acme", Email: "admin@acme.example", Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(expKeyAlice))}); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(0, int64(benchBase)).Add(30 * 24 * time.Hour)
	a := New(Options{Accounts: dir, Store: st, Now: func() time.Time { return now }})
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: a.Handler}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return ln.Dial() }}}
	for _, rows := range []int{n / 10, n} {
		b.Run("rows="+strconv.Itoa(rows), func(b *testing.B) {
			// The last rows logs: they are 1 ms apart.
			from := time.Unix(0, int64(benchBase)+int64(n-rows)*1e6).UTC().Format(time.RFC3339Nano)
			benchExport(b, client, "http://admin.test/api/organizations/acme/export/usage?format=csv&start_date="+from, rows)
		})
	}
}

// benchExport downloads uri b.N times, checks that it holds rows CSV rows
// and reports the speed and the memory before and during the downloads.
// The live heap during a download is taken every 100,000 rows received:
// the client runs a full GC (the server stalls meanwhile, its output
// unread) and reads what the GC found live, so garbage does not blur it.
// The resident set is sampled every 5 ms.
func benchExport(b *testing.B, client *http.Client, uri string, rows int) {
	runtime.GC()
	before := sampleMemory()
	peak := before
	stop, done := make(chan struct{}), make(chan struct{})
	var rssPeak atomic.Uint64
	rssPeak.Store(before.rss)
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := sampleMemory().rss; r > rssPeak.Load() {
					rssPeak.Store(r)
				}
			}
		}
	}()

	var bytesRead int64
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest(http.MethodGet, uri, nil)
		req.Header.Set("Authorization", "Bearer "+expKeyAlice)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		lc := lineCounter{every: 100_000, at: func() {
			runtime.GC()
			peak = peak.max(sampleMemory())
		}}
		k, err := io.Copy(&lc, resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || lc.lines != rows+1 {
			b.Fatalf("status %d, %d lines, %v", resp.StatusCode, lc.lines, err)
		}
		bytesRead += k
	}
	b.StopTimer()
	close(stop)
	<-done
	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(mb(uint64(bytesRead/int64(b.N))), "body-MB")
	b.ReportMetric(mb(before.live), "live-heap-before-MB")
	b.ReportMetric(mb(peak.live), "live-heap-peak-MB")
	if before.rss > 0 {
		b.ReportMetric(mb(before.rss), "rss-before-MB")
		b.ReportMetric(mb(rssPeak.Load()), "rss-peak-MB")
	}
}

// benchBase is the first event ID of the benchmark: 2026-01-01T00:00:00Z.
const benchBase = uint64(1767225600) * 1e9

// seedLogs stores n request logs of org acme, 1 ms apart from benchBase,
// through store.Apply in batches of 1000.
func seedLogs(tb testing.TB, st *store.Store, n int) {
	tb.Helper()
	models := []string{"openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.0-flash"}
	depts := []string{"research", "sales", "platform"}
	tags := []string{"", "env=prod", "env=prod,team=search", "env=dev"}
	users := make([]string, 50)
	for i := range users {
		users[i] = fmt.Sprintf("user-%02d", i)
	}
	batch := make([]meter.Event, 1000)
	for i := 0; i < n; i += len(batch) {
		for j := range batch {
			k := i + j
			id := benchBase + uint64(k)*1e6
			e := meter.Event{
				ID: id, Time: int64(id), Org: "acme", User: users[k%len(users)], Department: depts[k%len(depts)],
				BillingMode: account.OrgPays, Model: models[k%len(models)], Tags: tags[k%len(tags)],
				Category: usage.CategoryChatCompletions, Stream: k%2 == 0, Status: 200, Priced: true,
				LatencyMicros: int64(k % 3_000_000), TTFTMicros: int64(k % 500_000), CostNano: int64(k % 50_000_000),
			}
			e.Upstream = e.Model[:bytes.IndexByte([]byte(e.Model), '/')]
			e.Usage.Input, e.Usage.Output, e.Usage.Source = usage.Of(int64(k%4000)), usage.Of(int64(k%1000)), usage.SourceProvider
			if k%50 == 0 {
				e.Status, e.ErrorType, e.ErrorMessage, e.Usage = 429, usage.ErrRateLimit, "Rate limit reached", usage.Usage{}
			}
			batch[j] = e
		}
		if err := st.Apply(nil, batch); err != nil {
			tb.Fatal(err)
		}
	}
}

// memSample is the process memory at one instant.
type memSample struct {
	live, rss uint64
}

func (m memSample) max(o memSample) memSample {
	return memSample{live: max(m.live, o.live), rss: max(m.rss, o.rss)}
}

var (
	memMu      sync.Mutex
	memMetrics = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
)

// sampleMemory reads the live heap and, on Linux, the resident set size.
func sampleMemory() memSample {
	memMu.Lock()
	metrics.Read(memMetrics)
	s := memSample{live: memMetrics[0].Value.Uint64()}
	memMu.Unlock()
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := bytes.Fields(b)
		if len(f) > 1 {
			pages, _ := strconv.ParseUint(string(f[1]), 10, 64)
			s.rss = pages * uint64(os.Getpagesize())
		}
	}
	return s
}

// lineCounter counts the newlines written to it and calls at each time
// another every lines have arrived.
type lineCounter struct {
	lines, every, next int
	at                 func()
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	if c.lines >= c.next+c.every {
		c.next = c.lines - c.lines%c.every
		c.at()
	}
	return len(p), nil
}
