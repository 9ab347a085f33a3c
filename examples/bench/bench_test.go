package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/examples/childproc"
)

// TestMain lets the test binary serve as the bare proxy process, as the
// bench binary does.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == serveBareFlag {
		if err := serveBareMain(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sections are the headings every report has, in order.
var sections = []string{
	"# infermeter benchmark report",
	"## Targets",
	"## Proxy overhead (closed loop)",
	"### infermeter against the bare proxy",
	"## Concurrent streams",
	"## Open loop through infermeter",
	"## Memory (infermeter RSS",
	"## Analytics",
	"## Store",
	"## Hot path (go benchmarks)",
	"## Phases",
}

func checkSections(t *testing.T, md string, subsections bool) {
	t.Helper()
	at := 0
	for _, s := range sections {
		if !subsections && strings.HasPrefix(s, "###") {
			continue
		}
		i := strings.Index(md[at:], "\n"+s)
		if i < 0 && at == 0 && strings.HasPrefix(md, s) {
			i = -1
		} else if i < 0 {
			t.Fatalf("report lacks %q after byte %d:\n%s", s, at, md)
		}
		at += i + 1
	}
}

const goBenchOutput = `goos: linux
goarch: amd64
pkg: github.com/infermeter/infermeter/proxy/dialect
cpu: AMD EPYC
BenchmarkExtractBody/openai_chat_nonstream_reasoning_length.json-2         	   75891	     15190 ns/op	  51.08 MB/s	       0 B/op	       0 allocs/op
BenchmarkStream/openrouter_chat_stream_reasoning.sse-2                      	    3793	    313100 ns/op	  97.81 MB/s	       8 B/op	       0 allocs/op
PASS
ok  	github.com/infermeter/infermeter/proxy/dialect	3.2s
pkg: github.com/infermeter/infermeter/meter/pricing
BenchmarkLookupCached-2   	 9834231	       120.7 ns/op	       0 B/op	       0 allocs/op
BenchmarkCost-2           	 5186210	       226.6 ns/op	       0 B/op	       0 allocs/op
--- BENCH: BenchmarkSomething-2
    something_test.go:12: a log line
pkg: github.com/infermeter/infermeter/meter
BenchmarkRecord-2   	 1000000	      1028 ns/op	     163 B/op	       0 allocs/op
pkg: github.com/infermeter/infermeter/store
BenchmarkApply/sync=true-2         	       6	 200300000 ns/op	    5025 events/s	  626964 B/op	    1481 allocs/op
BenchmarkBroken-2 x 12 ns/op
`

func TestParseGoBench(t *testing.T) {
	got := parseGoBench([]byte(goBenchOutput))
	if len(got) != 6 {
		t.Fatalf("parsed %d benchmarks, want 6: %+v", len(got), got)
	}
	f := func(i int, pkg, name string, n int64, unit string, want float64) {
		t.Helper()
		b := got[i]
		if !strings.HasSuffix(b.Pkg, pkg) || b.Name != name || b.N != n {
			t.Fatalf("benchmark %d = %s %s %d, want %s %s %d", i, b.Pkg, b.Name, b.N, pkg, name, n)
		}
		if v, ok := b.Metric(unit); !ok || v != want {
			t.Fatalf("%s %s = %v (%v), want %v", name, unit, v, ok, want)
		}
	}
	f(0, "proxy/dialect", "ExtractBody/openai_chat_nonstream_reasoning_length.json", 75891, "ns/op", 15190)
	f(0, "proxy/dialect", "ExtractBody/openai_chat_nonstream_reasoning_length.json", 75891, "MB/s", 51.08)
	f(1, "proxy/dialect", "Stream/openrouter_chat_stream_reasoning.sse", 3793, "B/op", 8)
	f(2, "meter/pricing", "LookupCached", 9834231, "allocs/op", 0)
	f(4, "meter", "Record", 1000000, "B/op", 163)
	f(5, "store", "Apply/sync=true", 6, "events/s", 5025)
	if u := got[5].Units; strings.Join(u, " ") != "ns/op events/s B/op allocs/op" {
		t.Fatalf("units in order = %v", u)
	}
}

func TestBenchName(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkCost-2":                  "Cost",
		"BenchmarkCost":                    "Cost",
		"BenchmarkApply/sync=true-16":      "Apply/sync=true",
		"BenchmarkExtractBody/a-b.json-2":  "ExtractBody/a-b.json",
		"BenchmarkExtractBody/a-b.json":    "ExtractBody/a-b.json",
		"BenchmarkExtractBody/model-4o-32": "ExtractBody/model-4o",
	} {
		if got := benchName(in); got != want {
			t.Errorf("benchName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuantiles(t *testing.T) {
	d := make([]int64, 0, 1001)
	for i := 1000; i >= 0; i-- {
		d = append(d, int64(i)*1000) // 0..1000 µs, reversed
	}
	d = append(d, -1, -2) // failed and unsent entries are ignored
	q := quantilesOf(d)
	if q.N != 1001 || q.P50 != 500 || q.P99 != 990 || q.P999 != 999 || q.Max != 1000 {
		t.Fatalf("quantiles = %+v", q)
	}
	if q := quantilesOf([]int64{-1}); q.N != 0 || q.P99 != 0 {
		t.Fatalf("quantiles of nothing = %+v", q)
	}
	if q := quantilesOf([]int64{7000}); q.P50 != 7 || q.P999 != 7 {
		t.Fatalf("quantiles of one = %+v", q)
	}
}

func TestReadStream(t *testing.T) {
	f := func(body string, oneByte, wantDone bool) {
		t.Helper()
		var resp fasthttp.Response
		var r = strings.NewReader(body)
		if oneByte {
			resp.SetBodyStream(iotest.OneByteReader(r), -1)
		} else {
			resp.SetBodyStream(r, -1)
		}
		ttft, done, err := readStream(&resp, make([]byte, 7), time.Now())
		if err != nil || done != wantDone || (len(body) > 0) != (ttft > 0) {
			t.Fatalf("readStream(%q, oneByte %v) = %v, %v, %v; want done %v", body, oneByte, ttft, done, err, wantDone)
		}
	}
	whole := "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
	for _, oneByte := range []bool{false, true} {
		f(whole, oneByte, true)
		f(strings.TrimSuffix(whole, "\n"), oneByte, false)
		f("data: [DONE]\n\n", oneByte, true)
		f("ta: [DONE]\n\n", oneByte, false)
		f("", oneByte, false)
	}
}

func TestTargetRows(t *testing.T) {
	r := upper("x", "≤ 10 µs", 25, 10, true, fmtUS)
	if r.Result != "MISS" || r.Measured != "25.0 µs" || r.Margin != "over by 15.0 µs (2.5× the limit)" {
		t.Fatalf("upper miss = %+v", r)
	}
	r = upper("x", "≤ 10 µs", 4, 10, true, fmtUS)
	if r.Result != "PASS" || r.Margin != "6.0 µs to spare" {
		t.Fatalf("upper pass = %+v", r)
	}
	r = lower("x", "≥ 25k", 20_000, 25_000, true, fmtRate)
	if r.Result != "MISS" || r.Margin != "short by 5000/s (80.0% of the goal)" {
		t.Fatalf("lower miss = %+v", r)
	}
	r = lower("x", "≥ 25k", 0, 25_000, false, fmtRate)
	if r.Result != "N/A" || r.Measured != na {
		t.Fatalf("not measured = %+v", r)
	}
	for n, want := range map[int]string{10_000_000: "10M", 5_000_000: "5M", 2_500_000: "2.5M", 6_820_565: "6.82M", 10_000: "10k",
		800_519: "800.5k", 1234: "1234", 1_234_567: "1.23M", 12_000: "12k"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}

// cannedReport is a tiny report with every part filled.
func cannedReport() *report {
	q := func(p50, p99 float64) quantiles {
		return quantiles{N: 100, P50: p50, P99: p99, P999: p99 * 2, Max: p99 * 3}
	}
	r := &report{Date: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), Command: "go run ./examples/bench", Took: 9 * time.Minute,
		Machine:   machine{CPUs: 2, CPUModel: "AMD EPYC", MemTotal: "23.5 GiB", GoVersion: "go1.26.8", Kernel: "6.18", LoadStart: "1, 1, 1", LoadEnd: "1, 1, 1"},
		ClosedDur: 3 * time.Second, Rounds: 10, IdleMem: childproc.Memory{RSS: 15 << 20, HWM: 15 << 20}, AfterLoad: childproc.Memory{RSS: 40 << 20, HWM: 60 << 20}}
	for _, kind := range []string{"chat", "stream"} {
		for _, c := range []int{1, 64} {
			for i, tg := range []string{"direct", "bare", "bare-proc", "infermeter"} {
				x := closedResult{Target: tg, Kind: kind, Conc: c, OK: 3000, Elapsed: time.Second, Lat: q(float64(50+10*i), float64(100+20*i))}
				if kind == "stream" {
					x.TTFT = q(float64(40+10*i), float64(80+30*i))
				}
				r.Closed = append(r.Closed, x)
			}
		}
	}
	r.Streams = &streamsResult{Streams: 512, Completed: 512, Peak: 512, MinDur: 400 * time.Millisecond, Dur: q(420_000, 480_000), TTFT: q(900, 2000), Took: time.Second}
	r.StreamsDirect = r.Streams
	r.Open = []openResult{{Rate: 1000, Scheduled: 5000, OK: 5000, Achieved: 1000, Lat: q(200, 900)}, {Rate: 10_000, Scheduled: 50_000, OK: 50_000, Achieved: 9990, Lat: q(300, 5000), PeakRSS: 50 << 20}}
	r.Sustained = &sustainedResult{Batch: 100_000, Batches: 10, Events: 1_000_000, Took: 5 * time.Second, Slowest: 600 * time.Millisecond}
	r.GoBench = parseGoBench([]byte(goBenchOutput))
	r.GoBenchCmd = "go test -bench ..."
	r.Cells = &storeRun{WantCells: 5_000_000, Seed: seedStats{Cells: 5_000_000, Took: time.Minute, FileSize: 500 << 20}, Ready: 20 * time.Second, Mem: childproc.Memory{RSS: 2 << 30, HWM: 3 << 30}}
	r.Logs = &storeRun{WantLogs: 10_000_000, Seed: seedStats{Cells: 1_400_000, Logs: 10_000_000, Took: 2 * time.Minute, FileSize: 1 << 30}, Ready: 30 * time.Second, Mem: childproc.Memory{RSS: 1 << 30, HWM: 2 << 30}}
	r.Queries = []queryResult{
		{Name: "usage, group_by=user (30 days)", Samples: 20, Lat: q(30_000, 60_000), Rows: 200, Bytes: 50_000},
		{Name: "request logs, first page (100)", Samples: 20, Lat: q(1000, 2000), Rows: 100, Bytes: 50_000},
	}
	r.Metered = &metered{Served: 100, Values: map[string]float64{"infermeter_meter_recorded_events_total": 100}}
	r.Phases = []phase{{"gobench", time.Minute}}
	r.Notes = []string{"a note"}
	return r
}

func TestReportFormat(t *testing.T) {
	r := cannedReport()
	var b strings.Builder
	r.write(&b)
	md := b.String()
	checkSections(t, md, true)
	for _, want := range []string{
		"| added latency p50, chat c1 | ≤ 10 µs | 20.0 µs (vs bare-proc: 10.0 µs) | MISS | over by 10.0 µs (2.0× the limit) |",
		"| added latency p99, chat c1 | ≤ 25 µs | 40.0 µs (vs bare-proc: 20.0 µs) | MISS |",
		"| added TTFT p99, stream c1 | ≤ 50 µs | 60.0 µs (vs bare-proc: 30.0 µs) | MISS |",
		"| RSS idle | ≤ 20 MB | 15.0 MB | PASS |",
		"| RSS at 10k req/s (peak sampled) | ≤ 64 MB | 50.0 MB (achieved 9990/s) | PASS |",
		"| RSS with 5M aggregate cells | ≤ 256 MB (5M cells) | 2048.0 MB | MISS |",
		"| usage route p99 at 10M stored requests | ≤ 50 ms | 60.0 ms (worst query; 100 samples) | MISS |",
		"| request-log page p99 at 10M stored requests | ≤ 20 ms | 2.0 ms (worst query; 100 samples) | PASS |",
		"| allocs/op of extract + price + record (non-streamed) | 0 | 0 (extract 0, lookup 0, cost 0, record 0) | PASS |",
		"| events/s into the store (fsync per commit, 100k events per flush) | ≥ 100k/s | 200.0k/s | PASS |",
		"| 512 concurrent streams through infermeter | all complete, no stall | 512/512 completed",
		"| chat c1 | bare-proc | 1.00 | 10.0 µs | 20.0 µs | 40.0 µs |  |  |",
		"| throughput vs bare proxy, chat c64 | ≥ 90% | 100.0% (vs bare-proc: 100.0%) | PASS |",
		"| sustained Apply, fsync per commit (infermeter's setting) | 200000 |",
		"| store | Apply/sync=true | 2.003e+08 | 626964 | 1481 | 5025 events/s |",
		"- a note",
		"100 requests answered through infermeter; recorded 100, dropped 0",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	// A run cut short says how far it got and extrapolates.
	r.Cells.Seed.Cells, r.Cells.Mem.RSS = 600_000, 15<<20+600_000*1000
	b.Reset()
	r.write(&b)
	if want := "only 600k of 5M cells seeded: at 1000 B per cell, 5M would take about 4783.4 MB"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q", want)
	}
	// A child still starting when given up is a MISS at least as big.
	r.Cells.Seed.Cells, r.Cells.NotReady, r.Cells.Ready, r.Cells.Mem.RSS = 5_000_000, true, 2*time.Minute, 6000<<20
	b.Reset()
	r.write(&b)
	if want := "| RSS with 5M aggregate cells | ≤ 256 MB (5M cells) | ≥ 6000.0 MB (still not ready after 2m0s) | MISS |"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q", want)
	}
	if strings.Contains(b.String(), "| per cell |") {
		t.Error("a per-cell cost from a store not loaded")
	}
	// An empty report still has every section and says what was not measured.
	var e strings.Builder
	(&report{}).write(&e)
	checkSections(t, e.String(), false)
	if strings.Contains(e.String(), "PASS") || strings.Contains(e.String(), "MISS") {
		t.Fatalf("an empty report passes or misses something:\n%s", e.String())
	}
}

func TestOptions(t *testing.T) {
	for _, quick := range []bool{false, true} {
		o := defaultOptions(quick)
		if err := o.validate(); err != nil {
			t.Fatalf("defaults (quick %v): %v", quick, err)
		}
	}
	if _, err := parseRates("1000,x"); err == nil {
		t.Fatal("a bad rate was accepted")
	}
	if r, err := parseRates("1000, 5000,"); err != nil || len(r) != 2 || r[1] != 5000 {
		t.Fatalf("parseRates = %v, %v", r, err)
	}
	if _, err := parseSkip("proxy,nope"); err == nil {
		t.Fatal("an unknown phase was accepted")
	}
}

// TestSmoke runs the whole harness with tiny sizes against a freshly built
// binary. It takes a minute or two and loads the machine, so it runs only
// with INFERMETER_BENCH_SMOKE=1 (and not with -short).
func TestSmoke(t *testing.T) {
	if testing.Short() || os.Getenv("INFERMETER_BENCH_SMOKE") != "1" {
		t.Skip("set INFERMETER_BENCH_SMOKE=1 (without -short) to run the benchmark harness")
	}
	o := defaultOptions(true)
	o.ClosedDur, o.Rounds, o.OpenDur, o.Rates = 300*time.Millisecond, 1, 300*time.Millisecond, []float64{200, 1000}
	o.Streams, o.Workers, o.CellMembers, o.Logs, o.Samples = 16, 16, 20, 2000, 2
	o.StoreBatch, o.StoreBatches, o.Benchtime = 1000, 2, "10x"
	o.Logf = t.Logf
	o.Command = "TestSmoke"
	bin := filepath.Join(t.TempDir(), "infermeter")
	o.Bin = bin
	r, err := buildAndRun(t, o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.write(&b)
	md := b.String()
	checkSections(t, md, true)
	if len(r.Notes) > 0 {
		t.Errorf("notes: %q", r.Notes)
	}
	if len(r.Closed) != 16 || r.Streams == nil || r.Streams.Completed != r.Streams.Streams || len(r.Open) != 2 ||
		len(r.GoBench) == 0 || r.Sustained == nil || r.Cells == nil || r.Cells.Mem.RSS == 0 ||
		r.Logs == nil || r.Logs.Seed.Logs != o.Logs || len(r.Queries) != 8 {
		t.Errorf("a part is missing: %+v", r)
	}
	if m := r.Metered; m == nil || int64(m.Values["infermeter_meter_recorded_events_total"]+m.Values["infermeter_meter_dropped_events_total"]) != m.Served ||
		m.Values["infermeter_store_flushed_events_total"] != m.Values["infermeter_meter_recorded_events_total"] {
		t.Errorf("metering does not add up: %+v", r.Metered)
	}
	for _, c := range r.Closed {
		if c.Errors > 0 || c.OK == 0 {
			t.Errorf("%s %s c%d: %d ok, %d errors: %s", c.Target, c.Kind, c.Conc, c.OK, c.Errors, c.FirstErr)
		}
	}
	for _, q := range r.Queries {
		if q.Err != "" {
			t.Errorf("%s: %s", q.Name, q.Err)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

// buildAndRun builds infermeter into o.Bin and runs the harness.
func buildAndRun(t *testing.T, o options) (*report, error) {
	t.Helper()
	root, err := moduleRoot(o.Go)
	if err != nil {
		return nil, err
	}
	if err := goBuild(o.Go, root, o.Bin); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return run(ctx, o)
}

// TestFastest keeps the fastest line of each benchmark, in first-seen order.
func TestFastest(t *testing.T) {
	lines := parseGoBench([]byte("pkg: x\nBenchmarkA-2 10 300 ns/op 1 dropped\nBenchmarkB-2 10 50 ns/op\nBenchmarkA-2 10 200 ns/op 2 dropped\nBenchmarkA-2 10 250 ns/op\n"))
	got := fastest(lines)
	if len(got) != 2 || got[0].Name != "A" || got[0].Metrics["ns/op"] != 200 || got[0].Metrics["dropped"] != 2 || got[1].Name != "B" {
		t.Fatalf("%+v", got)
	}
}
