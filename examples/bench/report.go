package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/infermeter/infermeter/examples/childproc"
)

// report is everything one run measured. A nil or zero part was not
// measured (skipped, out of time, or failed: see Notes).
type report struct {
	Date    time.Time
	Machine machine
	Command string
	Quick   bool
	Budget  time.Duration
	Took    time.Duration
	Phases  []phase
	Notes   []string

	// Proxy overhead.
	ClosedDur time.Duration // per case and target, summed over the rounds
	Rounds    int
	Closed    []closedResult
	Streams   *streamsResult
	// StreamsDirect is the same check straight to the simulator.
	StreamsDirect *streamsResult
	Open          []openResult
	IdleMem       childproc.Memory // right after start, empty store
	AfterLoad     childproc.Memory // after every proxy run
	ProxyNotes    []string

	// Metered is what infermeter counted of the proxy runs.
	Metered *metered

	// Sustained store writes with fsync.
	Sustained *sustainedResult

	// Hot path.
	GoBench    []goBench
	GoBenchCmd string

	// Feed and export (go benchmarks of the product).
	Product     []goBench
	ProductCmds []string

	// Memory with many cells.
	Cells *storeRun
	// Analytics over many request logs.
	Logs    *storeRun
	Queries []queryResult
}

// metered compares the requests infermeter served in the proxy runs with
// what its /metrics say it recorded and stored.
type metered struct {
	Served int64
	Values map[string]float64
}

// storeRun is a child started on a seeded store.
type storeRun struct {
	WantCells, WantLogs int
	Seed                seedStats
	Ready               time.Duration    // from exec to /readyz 200 (NotReady: the time given)
	Mem                 childproc.Memory // after readiness settled (NotReady: when given up)
	// NotReady tells that infermeter was still starting when given up.
	NotReady bool
	Err      string
}

// phase is one step of the run and its wall time.
type phase struct {
	Name string
	Took time.Duration
}

// machine describes where the run happened.
type machine struct {
	CPUs      int
	CPUModel  string
	MemTotal  string
	GoVersion string
	Kernel    string
	LoadStart string
	LoadEnd   string
}

// find returns the closed-loop result of target, kind and concurrency.
func (r *report) find(target, kind string, c int) *closedResult {
	for i := range r.Closed {
		x := &r.Closed[i]
		if x.Target == target && x.Kind == kind && x.Conc == c {
			return x
		}
	}
	return nil
}

func (r *report) bench(pkgSuffix, name string) *goBench {
	for i := range r.GoBench {
		b := &r.GoBench[i]
		if b.Name == name && strings.HasSuffix(b.Pkg, pkgSuffix) {
			return b
		}
	}
	return nil
}

// targetRow is one line of the targets table.
type targetRow struct {
	Name, Goal, Measured, Result, Margin string
}

const na = "not measured"

// upper checks measured ≤ limit.
func upper(name, goal string, measured, limit float64, ok bool, format func(float64) string) targetRow {
	t := targetRow{Name: name, Goal: goal}
	if !ok || math.IsNaN(measured) {
		t.Measured, t.Result = na, "N/A"
		return t
	}
	t.Measured = format(measured)
	if measured <= limit {
		t.Result = "PASS"
		t.Margin = format(limit-measured) + " to spare"
		return t
	}
	t.Result = "MISS"
	t.Margin = "over by " + format(measured-limit)
	if limit > 0 {
		t.Margin += fmt.Sprintf(" (%.1f× the limit)", measured/limit)
	}
	return t
}

// lower checks measured ≥ limit.
func lower(name, goal string, measured, limit float64, ok bool, format func(float64) string) targetRow {
	t := targetRow{Name: name, Goal: goal}
	if !ok || math.IsNaN(measured) {
		t.Measured, t.Result = na, "N/A"
		return t
	}
	t.Measured = format(measured)
	if measured >= limit {
		t.Result = "PASS"
		t.Margin = format(measured-limit) + " above"
		return t
	}
	t.Result = "MISS"
	t.Margin = fmt.Sprintf("short by %s (%.1f%% of the goal)", format(limit-measured), 100*measured/limit)
	return t
}

func fmtUS(v float64) string {
	switch {
	case math.Abs(v) >= 10_000:
		return fmt.Sprintf("%.1f ms", v/1000)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f µs", v)
	default:
		return fmt.Sprintf("%.1f µs", v)
	}
}

func fmtMS(us float64) string { return fmt.Sprintf("%.1f ms", us/1000) }

func fmtRate(v float64) string {
	if v >= 10_000 {
		return fmt.Sprintf("%.1fk/s", v/1000)
	}
	return fmt.Sprintf("%.0f/s", v)
}

func fmtMB(b float64) string { return fmt.Sprintf("%.1f MB", b/(1<<20)) }

func fmtBytes(b float64) string { return fmt.Sprintf("%.0f B", b) }

func fmtPct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func fmtCount(v float64) string { return fmt.Sprintf("%.0f", v) }

// added returns infermeter minus the baseline base for a quantile.
func added(r *report, base, kind string, c int, pick func(*closedResult) float64) (float64, bool) {
	im, b := r.find("infermeter", kind, c), r.find(base, kind, c)
	if im == nil || b == nil || im.OK == 0 || b.OK == 0 {
		return 0, false
	}
	return pick(im) - pick(b), true
}

// ratio returns infermeter's throughput over the baseline's.
func ratio(r *report, base, kind string, c int) (float64, bool) {
	im, b := r.find("infermeter", kind, c), r.find(base, kind, c)
	if im == nil || b == nil || b.RPS() == 0 {
		return 0, false
	}
	return im.RPS() / b.RPS(), true
}

// withProc appends to t.Measured the same figure against the bare proxy in
// its own process, when measured.
func withProc(t targetRow, v float64, ok bool, format func(float64) string) targetRow {
	if ok && t.Result != "N/A" {
		t.Measured += " (vs bare-proc: " + format(v) + ")"
	}
	return t
}

// bytesPerLog returns the RAM taken by each stored request: the child's RSS
// over the empty child's, per stored log. withCells is the raw figure;
// logsOnly subtracts the cells at the RAM cost per cell measured by the
// many-cells run (ok2 false when that run is missing).
func (r *report) bytesPerLog() (withCells float64, ok bool, logsOnly float64, ok2 bool) {
	if r.Logs == nil || r.Logs.Seed.Logs == 0 || r.Logs.Mem.RSS == 0 || r.IdleMem.RSS == 0 {
		return 0, false, 0, false
	}
	delta := float64(r.Logs.Mem.RSS - r.IdleMem.RSS)
	withCells = delta / float64(r.Logs.Seed.Logs)
	if pc, ok := r.bytesPerCell(); ok {
		return withCells, true, (delta - pc*float64(r.Logs.Seed.Cells)) / float64(r.Logs.Seed.Logs), true
	}
	return withCells, true, 0, false
}

// bytesPerCell returns the RAM taken by each stored cell.
func (r *report) bytesPerCell() (float64, bool) {
	if r.Cells == nil || r.Cells.NotReady || r.Cells.Seed.Cells == 0 || r.Cells.Mem.RSS == 0 || r.IdleMem.RSS == 0 {
		return 0, false
	}
	return float64(r.Cells.Mem.RSS-r.IdleMem.RSS) / float64(r.Cells.Seed.Cells), true
}

// query returns the worst p99 of the queries whose name starts with one
// of prefixes, and the fewest samples among them.
func (r *report) query(prefixes ...string) (worst float64, samples int, ok bool) {
	for _, q := range r.Queries {
		named := slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(q.Name, p) })
		if named && q.Err == "" && q.Lat.N > 0 {
			if !ok || q.Lat.N < samples {
				samples = q.Lat.N
			}
			worst, ok = max(worst, q.Lat.P99), true
		}
	}
	return worst, samples, ok
}

// targets evaluates the targets.
func (r *report) targets() []targetRow {
	var rows []targetRow
	for _, kind := range []string{"chat", "stream"} {
		v, ok := ratio(r, "bare", kind, 64)
		pv, pok := ratio(r, "bare-proc", kind, 64)
		rows = append(rows, withProc(lower("throughput vs bare proxy, "+kind+" c64", "≥ 90%", v, 0.9, ok, fmtPct), pv, pok, fmtPct))
	}
	if im := r.find("infermeter", "chat", 64); im != nil {
		rows = append(rows, lower("throughput through infermeter (chat c64)", "≥ 25k req/s", im.RPS(), 25_000, im.OK > 0, fmtRate))
	} else {
		rows = append(rows, targetRow{Name: "throughput through infermeter (chat c64)", Goal: "≥ 25k req/s", Measured: na, Result: "N/A"})
	}
	for _, x := range []struct {
		name, goal, kind string
		limit            float64
		pick             func(*closedResult) float64
	}{
		{"added latency p50, chat c1", "≤ 10 µs", "chat", 10, func(c *closedResult) float64 { return c.Lat.P50 }},
		{"added latency p99, chat c1", "≤ 25 µs", "chat", 25, func(c *closedResult) float64 { return c.Lat.P99 }},
		{"added TTFT p99, stream c1", "≤ 50 µs", "stream", 50, func(c *closedResult) float64 { return c.TTFT.P99 }},
	} {
		v, ok := added(r, "bare", x.kind, 1, x.pick)
		pv, pok := added(r, "bare-proc", x.kind, 1, x.pick)
		rows = append(rows, withProc(upper(x.name, x.goal, v, x.limit, ok, fmtUS), pv, pok, fmtUS))
	}
	if s := r.Streams; s != nil {
		t := targetRow{Name: fmt.Sprintf("%d concurrent streams through infermeter", s.Streams), Goal: "all complete, no stall",
			Measured: fmt.Sprintf("%d/%d completed, peak %d open, slowest %s (floor %s)", s.Completed, s.Streams, s.Peak, fmtMS(s.Dur.Max), s.MinDur)}
		if s.Completed == s.Streams {
			t.Result = "PASS"
		} else {
			t.Result, t.Margin = "MISS", fmt.Sprintf("%d failed: %s", s.Streams-s.Completed, s.FirstErr)
		}
		rows = append(rows, t)
	} else {
		rows = append(rows, targetRow{Name: "512 concurrent streams through infermeter", Goal: "all complete", Measured: na, Result: "N/A"})
	}
	var t targetRow
	allocs, parts, okAll := 0.0, []string{}, true
	for _, p := range []struct{ pkg, name, label string }{
		{"proxy/dialect", "ExtractBody/openai_chat_nonstream_reasoning_length.json", "extract"},
		{"meter/pricing", "LookupCached", "lookup"},
		{"meter/pricing", "Cost", "cost"},
		{"meter", "Record", "record"},
	} {
		b := r.bench(p.pkg, p.name)
		if b == nil {
			okAll = false
			continue
		}
		a, _ := b.Metric("allocs/op")
		allocs += a
		parts = append(parts, fmt.Sprintf("%s %.0f", p.label, a))
	}
	t = upper("allocs/op of extract + price + record (non-streamed)", "0", allocs, 0, okAll, fmtCount)
	if okAll {
		t.Measured += " (" + strings.Join(parts, ", ") + ")"
	}
	rows = append(rows, t)
	rows = append(rows, upper("RSS idle", "≤ 20 MB", float64(r.IdleMem.RSS), 20<<20, r.IdleMem.RSS > 0, fmtMB))
	var peak10k int64
	var achieved float64
	for _, o := range r.Open {
		if o.Rate == 10_000 {
			peak10k, achieved = o.PeakRSS, o.Achieved
		}
	}
	t = upper("RSS at 10k req/s (peak sampled)", "≤ 64 MB", float64(peak10k), 64<<20, peak10k > 0, fmtMB)
	if peak10k > 0 {
		t.Measured += " (achieved " + fmtRate(achieved) + ")"
	}
	rows = append(rows, t)
	if c := r.Cells; c != nil && c.Mem.RSS > 0 {
		t := upper(fmt.Sprintf("RSS with %s aggregate cells", human(c.Seed.Cells)), "≤ 256 MB (5M cells)", float64(c.Mem.RSS), 256<<20, true, fmtMB)
		if c.NotReady {
			t.Measured = fmt.Sprintf("≥ %s (still not ready after %s)", t.Measured, c.Ready.Round(time.Second))
		}
		if c.Seed.Cells < c.WantCells {
			t.Margin += fmt.Sprintf("; only %s of %s cells seeded", human(c.Seed.Cells), human(c.WantCells))
			if pc, ok := r.bytesPerCell(); ok {
				t.Margin += fmt.Sprintf(": at %.0f B per cell, %s would take about %s", pc, human(c.WantCells), fmtMB(float64(r.IdleMem.RSS)+pc*float64(c.WantCells)))
			}
		}
		rows = append(rows, t)
	} else {
		rows = append(rows, targetRow{Name: "RSS with 5M aggregate cells", Goal: "≤ 256 MB", Measured: na, Result: "N/A"})
	}
	nLogs := "10M"
	if r.Logs != nil {
		nLogs = human(r.Logs.Seed.Logs)
	}
	for _, x := range []struct {
		prefixes   []string
		name, goal string
		limit      float64
	}{
		{[]string{"usage"}, "usage route p99 at " + nLogs + " stored requests", "≤ 50 ms", 50_000},
		{[]string{"cost insights", "errors", "query"}, "cost insights, errors and query p99 at " + nLogs + " stored requests", "≤ 50 ms (as usage)", 50_000},
		{[]string{"request logs"}, "request-log page p99 at " + nLogs + " stored requests", "≤ 20 ms", 20_000},
	} {
		v, n, ok := r.query(x.prefixes...)
		t := upper(x.name, x.goal, v, x.limit, ok, fmtMS)
		if ok {
			t.Measured += fmt.Sprintf(" (worst query; %d samples)", n)
		}
		rows = append(rows, t)
	}
	if s := r.Sustained; s != nil {
		rows = append(rows, lower(fmt.Sprintf("events/s into the store (fsync per commit, %s events per flush)", human(s.Batch)), "≥ 100k/s", s.EventsPerSec(), 100_000, s.Events > 0, fmtRate))
	} else if b := r.bench("store", "Apply/sync=true"); b != nil {
		ev, ok := b.Metric("events/s")
		rows = append(rows, lower("events/s into the store (go benchmark Apply, fsync per commit)", "≥ 100k/s", ev, 100_000, ok, fmtRate))
	} else {
		rows = append(rows, targetRow{Name: "events/s into the store", Goal: "≥ 100k/s", Measured: na, Result: "N/A"})
	}
	wc, ok, lo, ok2 := r.bytesPerLog()
	t = upper("RAM per stored request (RSS delta / logs, cells included)", "≤ 150 B", wc, 150, ok, fmtBytes)
	if ok2 {
		t.Measured += fmt.Sprintf(" (%.0f B without the cells)", lo)
	}
	rows = append(rows, t)
	return append(rows, r.productTargets()...)
}

// human prints a count as 10M, 6.82M, 250k, 800.5k or 1234.
func human(n int) string {
	trim := func(s string) string { return strings.TrimSuffix(strings.TrimRight(s, "0"), ".") }
	switch {
	case n >= 1_000_000:
		return trim(fmt.Sprintf("%.2f", float64(n)/1e6)) + "M"
	case n >= 10_000:
		return trim(fmt.Sprintf("%.1f", float64(n)/1e3)) + "k"
	default:
		return fmt.Sprintf("%d", n)
	}
}

// write prints the report as markdown.
func (r *report) write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	mode := "full"
	if r.Quick {
		mode = "quick (smoke sizes, not comparable)"
	}
	p("# infermeter benchmark report\n\n")
	p("- date: %s\n", r.Date.UTC().Format(time.RFC3339))
	p("- command: `%s` (%s run)\n", r.Command, mode)
	p("- machine: %d CPUs (%s), %s RAM, %s, kernel %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemTotal, r.Machine.GoVersion, r.Machine.Kernel)
	p("- load average (1, 5, 15 min) at start: %s; at end: %s\n", r.Machine.LoadStart, r.Machine.LoadEnd)
	p("- whole run: %s (budget %s: a phase that does not fit is cut short and says so)\n\n", r.Took.Round(time.Second), r.Budget)
	p("Latencies in µs unless marked. Client, simulator and bare proxy run in the harness process; infermeter is a child process (its RSS is its own). All on one machine: CPU is shared, so compare rows of one run, not runs.\n\n")

	p("## Targets\n\n| target | goal | measured | result | margin |\n|---|---|---|---|---|\n")
	for _, t := range r.targets() {
		p("| %s | %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, t.Result, t.Margin)
	}

	p("\n## Proxy overhead (closed loop)\n\n")
	if len(r.Closed) == 0 {
		p("Not measured.\n")
	} else {
		p("Each case ran %s per target, in %d rounds taking turns (direct, bare, bare-proc, infermeter). Direct: the simulator itself; bare: a fasthttp reverse proxy without auth or metering, in the harness process; bare-proc: the same in a process of its own; infermeter: the binary. Request: POST /v1/chat/completions gpt-4o-mini (25 input, 50 output tokens; streams: 10 content chunks). TTFT: first body byte. The bare proxy shares the harness process (and its GOMAXPROCS) with the clients and the simulator, while infermeter has a process of its own: when other processes load the machine, infermeter gets a larger share of the CPU than the bare proxy, which can make it look faster than the baseline; bare-proc levels that.\n\n", r.ClosedDur, r.Rounds)
		p("| case | target | requests | req/s | p50 | p99 | p99.9 | TTFT p50 | TTFT p99 | errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range r.Closed {
			ttft50, ttft99 := "", ""
			if c.Kind == "stream" {
				ttft50, ttft99 = fmtUS(c.TTFT.P50), fmtUS(c.TTFT.P99)
			}
			p("| %s c%d | %s | %d | %.0f | %s | %s | %s | %s | %s | %d |\n", c.Kind, c.Conc, c.Target, c.OK, c.RPS(),
				fmtUS(c.Lat.P50), fmtUS(c.Lat.P99), fmtUS(c.Lat.P999), ttft50, ttft99, c.Errors)
		}
		p("\n### infermeter against the bare proxy\n\nbare: the bare proxy in the harness process (the baseline of the targets); bare-proc: the same code in a process of its own, as infermeter is.\n\n")
		p("| case | baseline | throughput ratio | added p50 | added p99 | added p99.9 | added TTFT p50 | added TTFT p99 |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, kind := range []string{"chat", "stream"} {
			for _, c := range []int{1, 64} {
				for _, base := range []string{"bare", "bare-proc"} {
					im, b := r.find("infermeter", kind, c), r.find(base, kind, c)
					if im == nil || b == nil || b.RPS() == 0 {
						continue
					}
					t50, t99 := "", ""
					if kind == "stream" {
						t50, t99 = fmtUS(im.TTFT.P50-b.TTFT.P50), fmtUS(im.TTFT.P99-b.TTFT.P99)
					}
					p("| %s c%d | %s | %.2f | %s | %s | %s | %s | %s |\n", kind, c, base, im.RPS()/b.RPS(),
						fmtUS(im.Lat.P50-b.Lat.P50), fmtUS(im.Lat.P99-b.Lat.P99), fmtUS(im.Lat.P999-b.Lat.P999), t50, t99)
				}
			}
		}
		for _, c := range r.Closed {
			if c.FirstErr != "" {
				p("\n%s %s c%d: first error: %s\n", c.Target, c.Kind, c.Conc, c.FirstErr)
			}
		}
	}

	p("\n## Concurrent streams\n\n")
	if r.Streams == nil {
		p("Not measured.\n")
	} else {
		p("%d streams opened at once, each of 20 content events 20 ms apart (floor %s): straight to the simulator, then through infermeter.\n\n", r.Streams.Streams, r.Streams.MinDur)
		p("| target | completed | peak open | duration p50 | p99 | max | TTFT p50 | TTFT p99 | wall |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range []struct {
			name string
			s    *streamsResult
		}{{"direct", r.StreamsDirect}, {"infermeter", r.Streams}} {
			if s := x.s; s != nil {
				p("| %s | %d/%d | %d | %s | %s | %s | %s | %s | %s |\n", x.name, s.Completed, s.Streams, s.Peak, fmtMS(s.Dur.P50), fmtMS(s.Dur.P99), fmtMS(s.Dur.Max),
					fmtUS(s.TTFT.P50), fmtUS(s.TTFT.P99), s.Took.Round(time.Millisecond))
				if s.FirstErr != "" {
					p("\n%s: first error: %s\n", x.name, s.FirstErr)
				}
			}
		}
	}

	p("\n## Open loop through infermeter\n\n")
	if len(r.Open) == 0 {
		p("Not measured.\n")
	} else {
		p("Requests scheduled at t0 + i/rate, taken by a pool of workers; latency counts from each request's scheduled time (no coordinated omission). Late: sent more than 1 ms after its scheduled time.\n\n")
		p("| rate | scheduled | ok | errors | unsent | late > 1 ms | achieved | p50 | p99 | p99.9 | max | peak RSS |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, o := range r.Open {
			rss := ""
			if o.PeakRSS > 0 {
				rss = fmtMB(float64(o.PeakRSS))
			}
			p("| %s | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s | %s |\n", fmtRate(o.Rate), o.Scheduled, o.OK, o.Errors, o.Unsent, o.Late,
				fmtRate(o.Achieved), fmtUS(o.Lat.P50), fmtUS(o.Lat.P99), fmtUS(o.Lat.P999), fmtUS(o.Lat.Max), rss)
		}
		for _, o := range r.Open {
			if o.FirstErr != "" {
				p("\n%s: first error: %s\n", fmtRate(o.Rate), o.FirstErr)
			}
		}
	}

	if m := r.Metered; m != nil {
		p("\nMetering during these runs (infermeter's /metrics after the closed-loop, streams and open-loop runs): %d requests answered through infermeter; recorded %.0f, dropped %.0f (queue full); stored %.0f, store dropped %.0f, flush errors %.0f.\n",
			m.Served, m.Values["infermeter_meter_recorded_events_total"], m.Values["infermeter_meter_dropped_events_total"],
			m.Values["infermeter_store_flushed_events_total"], m.Values["infermeter_store_dropped_logs_total"], m.Values["infermeter_store_flush_errors_total"])
	}

	p("\n## Memory (infermeter RSS, from /proc/<pid>/status)\n\n| state | VmRSS | VmHWM (peak) | note |\n|---|---:|---:|---|\n")
	if r.IdleMem.RSS > 0 {
		p("| idle, empty store, after start | %s | %s | |\n", fmtMB(float64(r.IdleMem.RSS)), fmtMB(float64(r.IdleMem.HWM)))
	}
	for _, o := range r.Open {
		if o.Rate == 10_000 && o.PeakRSS > 0 {
			p("| under 10k req/s (open loop) | %s | | peak of samples every 100 ms |\n", fmtMB(float64(o.PeakRSS)))
		}
	}
	if r.AfterLoad.RSS > 0 {
		p("| after every proxy run | %s | %s | VmHWM includes the 512 streams and c64 runs |\n", fmtMB(float64(r.AfterLoad.RSS)), fmtMB(float64(r.AfterLoad.HWM)))
	}
	if c := r.Cells; c != nil {
		ready := fmt.Sprintf("ready %s after exec", c.Ready.Round(time.Millisecond))
		if c.NotReady {
			ready = fmt.Sprintf("still not ready %s after exec: given up (memory then)", c.Ready.Round(time.Second))
		}
		note := fmt.Sprintf("%s members × %d models, one hour; seeded in %s (%s on disk); %s",
			human(c.Seed.Cells/max(1, len(seedModels))), len(seedModels), c.Seed.Took.Round(time.Second), fmtMB(float64(c.Seed.FileSize)), ready)
		if c.Seed.Cells < c.WantCells {
			note = fmt.Sprintf("only %s of %s cells seeded in the time budget; ", human(c.Seed.Cells), human(c.WantCells)) + note
		}
		switch {
		case c.NotReady:
			note += "; where it was stuck: see Notes"
		case c.Err != "":
			note += "; error: " + c.Err
		}
		rss, hwm := "", ""
		if c.Mem.RSS > 0 {
			rss, hwm = fmtMB(float64(c.Mem.RSS)), fmtMB(float64(c.Mem.HWM))
			if c.NotReady {
				rss, hwm = "≥ "+rss, "≥ "+hwm
			}
		}
		p("| %s aggregate cells loaded | %s | %s | %s |\n", human(c.Seed.Cells), rss, hwm, note)
		if pc, ok := r.bytesPerCell(); ok {
			p("| per cell | %.0f B | | (RSS − idle RSS) / cells |\n", pc)
		}
	}
	if l := r.Logs; l != nil && l.Mem.RSS > 0 {
		p("| %s request logs + %s cells loaded | %s | %s | analytics store, below |\n", human(l.Seed.Logs), human(l.Seed.Cells), fmtMB(float64(l.Mem.RSS)), fmtMB(float64(l.Mem.HWM)))
	}

	p("\n## Analytics\n\n")
	if l := r.Logs; l == nil {
		p("Not measured.\n")
	} else {
		p("Store seeded straight through the store package: %s request logs over the last 30 days (200 members, 10 models, realistic fields) and the %s hourly cells that aggregate them, in %s (%.0f events/s with their cells, no fsync). infermeter ready %s after exec.\n\n",
			human(l.Seed.Logs), human(l.Seed.Cells), l.Seed.Took.Round(time.Second), float64(l.Seed.Logs)/max(l.Seed.Took.Seconds(), 1e-9), l.Ready.Round(time.Millisecond))
		p("Each query: one untimed warm-up, then up to the samples shown (fewer when its time bound ran out), one at a time.\n\n")
		if l.Seed.Logs < l.WantLogs {
			p("Only %s of the %s logs were seeded within the time budget.\n\n", human(l.Seed.Logs), human(l.WantLogs))
		}
		if l.Err != "" {
			p("Error: %s\n\n", l.Err)
		}
		if len(r.Queries) > 0 {
			p("| query | samples | p50 | p99 | rows | answer bytes |\n|---|---:|---:|---:|---:|---:|\n")
			for _, q := range r.Queries {
				if q.Err != "" {
					p("| %s | error: %s | | | | |\n", q.Name, q.Err)
					continue
				}
				p("| %s | %d | %s | %s | %d | %d |\n", q.Name, q.Lat.N, fmtMS(q.Lat.P50), fmtMS(q.Lat.P99), q.Rows, q.Bytes)
			}
		}
		p("\n| bytes per stored request | value |\n|---|---:|\n")
		if wc, ok, lo, ok2 := r.bytesPerLog(); ok {
			p("| RAM: (RSS − idle RSS) / logs, cells included | %.0f B |\n", wc)
			if ok2 {
				p("| RAM without the cells (at the per-cell cost above) | %.0f B |\n", lo)
			}
		}
		if l.Seed.Logs > 0 && l.Seed.FileSize > 0 {
			p("| disk: file size / logs, cells included | %.0f B |\n", float64(l.Seed.FileSize)/float64(l.Seed.Logs))
		}
	}

	p("\n## Store\n\n| measure | events/s | note |\n|---|---:|---|\n")
	if s := r.Sustained; s != nil {
		p("| sustained Apply, fsync per commit (infermeter's setting) | %.0f | %d batches of %d realistic events + their cells; slowest Apply %s |\n",
			s.EventsPerSec(), s.Batches, s.Batch, s.Slowest.Round(time.Millisecond))
	}
	for _, name := range []string{"Apply/sync=true", "Apply/sync=false"} {
		if b := r.bench("store", name); b != nil {
			ev, _ := b.Metric("events/s")
			p("| go benchmark %s | %.0f | batches of 1000 events + 50 cells, one commit each |\n", name, ev)
		}
	}
	if l := r.Logs; l != nil && l.Seed.Logs > 0 {
		p("| seeding %s logs (sustained) | %.0f | batches of up to %d events + their cells, no fsync |\n", human(l.Seed.Logs), float64(l.Seed.Logs)/max(l.Seed.Took.Seconds(), 1e-9), applyBatch)
	}

	p("\n## Hot path (go benchmarks)\n\n")
	if len(r.GoBench) == 0 {
		p("Not measured.\n")
	} else {
		p("`%s`\n\n| package | benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---:|---:|---:|---|\n", r.GoBenchCmd)
		for _, b := range r.GoBench {
			var other []string
			for _, u := range b.Units {
				if u != "ns/op" && u != "B/op" && u != "allocs/op" {
					other = append(other, fmt.Sprintf("%.4g %s", b.Metrics[u], u))
				}
			}
			p("| %s | %s | %.4g | %.0f | %.0f | %s |\n", strings.TrimPrefix(b.Pkg, "github.com/infermeter/infermeter/"), b.Name,
				b.Metrics["ns/op"], b.Metrics["B/op"], b.Metrics["allocs/op"], strings.Join(other, ", "))
		}
	}

	p("\n## Feed and export (go benchmarks)\n\n")
	if len(r.Product) == 0 {
		p("Not measured.\n")
	} else {
		for _, c := range r.ProductCmds {
			p("`%s`\n\n", c)
		}
		p("| benchmark | ns/op | other |\n|---|---:|---|\n")
		for _, b := range r.Product {
			var other []string
			for _, u := range b.Units {
				if u != "ns/op" {
					other = append(other, fmt.Sprintf("%.4g %s", b.Metrics[u], u))
				}
			}
			p("| %s | %.4g | %s |\n", b.Name, b.Metrics["ns/op"], strings.Join(other, ", "))
		}
	}

	if len(r.Notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	p("\n## Phases\n\n| phase | wall time |\n|---|---:|\n")
	for _, ph := range r.Phases {
		p("| %s | %s |\n", ph.Name, ph.Took.Round(100*time.Millisecond))
	}
	p("| **total** | **%s** |\n", r.Took.Round(time.Second))
}
