// Command bench measures infermeter on this machine in one run and prints
// one markdown report (`make bench`): proxy overhead against the simulator
// directly and a bare fasthttp reverse proxy (closed loop, streamed and not,
// c1 and c64), 512 concurrent streams, open-loop runs at fixed rates without
// coordinated omission, the hot-path go benchmarks, the RSS of the
// infermeter process idle, under load and with 5M aggregate cells, the
// analytics routes over 10M stored requests, and the store's write rate;
// each beside its target with PASS or MISS.
//
// infermeter runs as a child process (built here, or -bin), so its RSS is
// its own; the simulator, the bare proxy and the load generator run in this
// process. Everything listens on loopback only, every load loop is bounded
// in count and time, and the whole run stops taking on new work when
// -budget is spent (what was cut short is said in the report).
//
//	go run ./examples/bench -bin bin/infermeter -out bin/bench-report.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/examples/childproc"
	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// options are the knobs of one run; see the flags for their meaning.
type options struct {
	Bin       string
	Out       string
	Go        string
	Quick     bool
	Budget    time.Duration
	ClosedDur time.Duration
	Rounds    int
	OpenDur   time.Duration
	Rates     []float64
	Workers   int
	Streams   int
	// CellMembers × len(seedModels) cells in the memory run.
	CellMembers int
	Logs        int
	LogMembers  int
	LogModels   int
	Samples     int
	// QueryTime bounds the timed requests of one analytics query.
	QueryTime time.Duration
	// StoreBatch events per Apply in the sustained store run, at most
	// StoreBatches of them.
	StoreBatch   int
	StoreBatches int
	Benchtime    string
	Skip         map[string]bool
	Command      string
	Logf         func(format string, args ...any)
}

// phases that -skip accepts.
var phaseNames = []string{"gobench", "product", "store", "proxy", "cells", "analytics"}

func defaultOptions(quick bool) options {
	o := options{
		Go: "go", Budget: 8*time.Minute + 30*time.Second, ClosedDur: 3 * time.Second, Rounds: 10, OpenDur: 5 * time.Second,
		Rates: []float64{1000, 5000, 10000}, Workers: 512, Streams: 512, CellMembers: 100_000,
		Logs: 10_000_000, LogMembers: 200, LogModels: 10, Samples: 20, QueryTime: 15 * time.Second, Benchtime: "1s",
		StoreBatch: 100_000, StoreBatches: 10,
	}
	if quick {
		o.Quick = true
		o.Budget, o.ClosedDur, o.Rounds, o.OpenDur, o.QueryTime = 3*time.Minute, 600*time.Millisecond, 2, time.Second, 5*time.Second
		o.Workers, o.Streams, o.CellMembers, o.Logs, o.Samples, o.Benchtime = 64, 64, 200, 10_000, 5, "100ms"
		o.StoreBatch, o.StoreBatches = 5000, 3
	}
	return o
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == serveBareFlag {
		if err := serveBareMain(os.Args[2]); err != nil {
			fatal(err)
		}
		return
	}
	quick := flag.Bool("quick", false, "smoke sizes: short runs, 10k cells, 10k logs (numbers not comparable)")
	fs := flag.CommandLine
	// Defaults depend on -quick, so read it first.
	for _, a := range os.Args[1:] {
		if a == "-quick" || a == "--quick" || a == "-quick=true" || a == "--quick=true" {
			*quick = true
		}
	}
	o := defaultOptions(*quick)
	var rates, skip string
	fs.StringVar(&o.Bin, "bin", "", "infermeter binary to run (default: go build one into a temp dir)")
	fs.StringVar(&o.Out, "out", "", "also write the report to this file")
	fs.StringVar(&o.Go, "go", o.Go, "go command, for building and for the go benchmarks")
	fs.DurationVar(&o.Budget, "budget", o.Budget, "wall-time budget: phases that do not fit are cut short or skipped")
	fs.DurationVar(&o.ClosedDur, "duration", o.ClosedDur, "closed loop: time per case and target")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "closed loop: rounds the targets take turns in")
	fs.DurationVar(&o.OpenDur, "open-duration", o.OpenDur, "open loop: time per rate")
	fs.StringVar(&rates, "rates", formatRates(o.Rates), "open loop: comma-separated rates in req/s")
	fs.IntVar(&o.Workers, "workers", o.Workers, "open loop: worker pool size")
	fs.IntVar(&o.Streams, "streams", o.Streams, "concurrent streams of the stall check")
	fs.IntVar(&o.CellMembers, "cell-members", o.CellMembers, fmt.Sprintf("memory run: members (× %d models, one cell each)", len(seedModels)))
	fs.IntVar(&o.Logs, "logs", o.Logs, "analytics run: request logs seeded")
	fs.IntVar(&o.LogMembers, "log-members", o.LogMembers, "analytics run: members")
	fs.IntVar(&o.LogModels, "log-models", o.LogModels, "analytics run: models (at most 50)")
	fs.IntVar(&o.Samples, "samples", o.Samples, "analytics run: timed requests per query")
	fs.DurationVar(&o.QueryTime, "query-time", o.QueryTime, "analytics run: at most this long timing one query")
	fs.StringVar(&o.Benchtime, "benchtime", o.Benchtime, "go benchmarks: -benchtime")
	fs.IntVar(&o.StoreBatch, "store-batch", o.StoreBatch, "sustained store run: events per Apply (one flush)")
	fs.IntVar(&o.StoreBatches, "store-batches", o.StoreBatches, "sustained store run: at most this many Apply calls (and at most 30s)")
	fs.StringVar(&skip, "skip", "", "comma-separated phases to skip: "+strings.Join(phaseNames, ", "))
	flag.Parse()
	var err error
	if o.Rates, err = parseRates(rates); err != nil {
		fatal(err)
	}
	if o.Skip, err = parseSkip(skip); err != nil {
		fatal(err)
	}
	if err := o.validate(); err != nil {
		fatal(err)
	}
	o.Command = "go run ./examples/bench " + strings.Join(os.Args[1:], " ")
	o.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	r, err := run(context.Background(), o)
	if r != nil {
		var b strings.Builder
		r.write(&b)
		fmt.Print(b.String())
		if o.Out != "" {
			if werr := os.WriteFile(o.Out, []byte(b.String()), 0o644); werr != nil {
				err = errors.Join(err, fmt.Errorf("cannot write the report to %q: %w", o.Out, werr))
			}
		}
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func formatRates(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(s, ",")
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v > 100_000 {
			return nil, fmt.Errorf("invalid -rates %q: want rates in req/s from 1 to 100000", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseSkip(s string) (map[string]bool, error) {
	m := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		found := false
		for _, p := range phaseNames {
			found = found || p == f
		}
		if !found {
			return nil, fmt.Errorf("invalid -skip %q: phases are %s", f, strings.Join(phaseNames, ", "))
		}
		m[f] = true
	}
	return m, nil
}

func (o *options) validate() error {
	switch {
	case o.Budget <= 0 || o.Budget > time.Hour:
		return fmt.Errorf("invalid -budget %s: want more than 0 and at most 1h", o.Budget)
	case o.ClosedDur <= 0 || o.ClosedDur > time.Minute:
		return fmt.Errorf("invalid -duration %s: want more than 0 and at most 1m", o.ClosedDur)
	case o.OpenDur <= 0 || o.OpenDur > time.Minute:
		return fmt.Errorf("invalid -open-duration %s: want more than 0 and at most 1m", o.OpenDur)
	case o.Rounds < 1 || o.Rounds > 20:
		return fmt.Errorf("invalid -rounds %d: want 1 to 20", o.Rounds)
	case o.Workers < 1 || o.Workers > 4096:
		return fmt.Errorf("invalid -workers %d: want 1 to 4096", o.Workers)
	case o.Streams < 1 || o.Streams > 4096:
		return fmt.Errorf("invalid -streams %d: want 1 to 4096", o.Streams)
	case o.CellMembers < 1 || o.CellMembers > 1_000_000:
		return fmt.Errorf("invalid -cell-members %d: want 1 to 1000000", o.CellMembers)
	case o.Logs < 1 || o.Logs > 100_000_000:
		return fmt.Errorf("invalid -logs %d: want 1 to 100000000", o.Logs)
	case o.LogMembers < 1 || o.LogModels < 1 || o.LogModels > len(seedModels):
		return fmt.Errorf("invalid -log-members %d or -log-models %d", o.LogMembers, o.LogModels)
	case o.Samples < 1 || o.Samples > 1000:
		return fmt.Errorf("invalid -samples %d: want 1 to 1000", o.Samples)
	case o.QueryTime <= 0 || o.QueryTime > 5*time.Minute:
		return fmt.Errorf("invalid -query-time %s: want more than 0 and at most 5m", o.QueryTime)
	case o.StoreBatch < 1 || o.StoreBatch > 1_000_000 || o.StoreBatches < 1 || o.StoreBatches > 1000:
		return fmt.Errorf("invalid -store-batch %d or -store-batches %d", o.StoreBatch, o.StoreBatches)
	}
	return nil
}

// harness is the in-process side of a run.
type harness struct {
	o       options
	tmp     string
	root    string // module root
	bin     string
	simAddr string
	sim     *sim.Server
	stops   []func()
	start   time.Time
	r       *report
}

// run measures everything o asks for and returns the report; a failed
// phase is noted in the report and the run goes on. The error is for what
// prevents any measurement (no binary, no listener).
func run(ctx context.Context, o options) (*report, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	h := &harness{o: o, start: time.Now()}
	h.r = &report{Date: h.start, Machine: readMachine(o.Go), Command: o.Command, Quick: o.Quick, Budget: o.Budget, ClosedDur: o.ClosedDur, Rounds: o.Rounds}
	defer h.close()
	if err := h.setup(); err != nil {
		return nil, err
	}
	step := func(name string, fn func()) {
		if o.Skip[name] {
			h.note("%s: skipped (-skip)", name)
			return
		}
		t0 := time.Now()
		fn()
		h.r.Phases = append(h.r.Phases, phase{Name: name, Took: time.Since(t0)})
	}
	step("gobench", func() { h.goBench(ctx) })
	step("product", func() { h.productBench(ctx) })
	step("store", h.storeRun)
	step("proxy", h.proxyRuns)
	h.seededRuns(step)
	h.r.Machine.LoadEnd = loadAvg()
	h.r.Took = time.Since(h.start)
	return h.r, nil
}

func (h *harness) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	h.r.Notes = append(h.r.Notes, s)
	h.o.Logf("%s", s)
}

// left returns what is left of the budget.
func (h *harness) left() time.Duration { return h.o.Budget - time.Since(h.start) }

func (h *harness) close() {
	for i := len(h.stops) - 1; i >= 0; i-- {
		h.stops[i]()
	}
	if h.tmp != "" {
		_ = os.RemoveAll(h.tmp)
	}
}

// setup finds the module, builds or checks the binary, and starts the
// simulator.
func (h *harness) setup() error {
	var err error
	if h.tmp, err = os.MkdirTemp("", "infermeter-bench-"); err != nil {
		return fmt.Errorf("cannot create a temp dir: %w", err)
	}
	if h.root, err = moduleRoot(h.o.Go); err != nil {
		return err
	}
	if h.bin = h.o.Bin; h.bin == "" {
		h.bin = filepath.Join(h.tmp, "infermeter")
		h.o.Logf("building %s", h.bin)
		if err := goBuild(h.o.Go, h.root, h.bin); err != nil {
			return err
		}
	} else if h.bin, err = filepath.Abs(h.bin); err != nil {
		return fmt.Errorf("cannot resolve -bin: %w", err)
	}
	if _, err := os.Stat(h.bin); err != nil {
		return fmt.Errorf("cannot use -bin: %w", err)
	}
	h.sim = sim.New(sim.Options{MaxRecorded: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("cannot listen on loopback: %w", err)
	}
	h.simAddr = ln.Addr().String()
	go func() { _ = h.sim.Serve(ln) }()
	h.stops = append(h.stops, func() { _ = h.sim.Close() })
	return nil
}

// moduleRoot returns the directory of the go.mod of the current directory.
func moduleRoot(goCmd string) (string, error) {
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cannot run %q env GOMOD: %w", goCmd, err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the module: run from inside the infermeter repository")
	}
	return filepath.Dir(gomod), nil
}

// goBuild builds infermeter (the module's main package) into bin.
func goBuild(goCmd, root, bin string) error {
	cmd := exec.Command(goCmd, "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build infermeter: %w: %s", err, tail(out, 1500))
	}
	return nil
}

// goBench runs the hot-path go benchmarks.
func (h *harness) goBench(ctx context.Context) {
	timeout := min(5*time.Minute, max(h.left()/3, 30*time.Second))
	h.o.Logf("go benchmarks (-benchtime %s, at most %s)", h.o.Benchtime, timeout)
	res, cmd, err := runGoBench(ctx, h.o.Go, h.root, h.o.Benchtime, timeout)
	h.r.GoBench, h.r.GoBenchCmd = res, cmd
	if err != nil {
		h.note("gobench: %s", err)
	}
}

// productBench runs the feed and export benchmarks.
func (h *harness) productBench(ctx context.Context) {
	timeout := min(4*time.Minute, max(h.left()/3, 30*time.Second))
	h.o.Logf("feed and export benchmarks (at most %s)", timeout)
	res, cmds, err := runProductBench(ctx, h.o.Go, h.root, timeout)
	h.r.Product, h.r.ProductCmds = res, cmds
	if err != nil {
		h.note("product: %s", err)
	}
}

// storeRun measures the sustained write rate of the store.
func (h *harness) storeRun() {
	h.o.Logf("store: %d batches of %d events, fsync per commit", h.o.StoreBatches, h.o.StoreBatch)
	r, err := storeSustained(filepath.Join(h.tmp, "sustained"), h.o.StoreBatch, h.o.StoreBatches, 30*time.Second)
	_ = os.RemoveAll(filepath.Join(h.tmp, "sustained"))
	if err != nil {
		h.note("store: %s", err)
		return
	}
	h.r.Sustained = &r
	h.o.Logf("store: %.0f events/s, slowest Apply %s", r.EventsPerSec(), r.Slowest.Round(time.Millisecond))
}

// serveLoopback serves s on a new loopback listener until the harness
// closes and returns its address.
func (h *harness) serveLoopback(s *fasthttp.Server) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot listen on loopback: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	h.stops = append(h.stops, func() {
		_ = s.Shutdown()
		<-done
	})
	return ln.Addr().String(), nil
}

// proxyRuns: idle RSS, the closed-loop matrix, the streams check and the
// open-loop rates, all against one child on an empty store.
func (h *harness) proxyRuns() {
	bareAddr, err := h.serveLoopback(newBareProxy(h.simAddr).server())
	if err != nil {
		h.note("proxy: %s", err)
		return
	}
	c, err := startChild(childConfig{Bin: h.bin, Dir: filepath.Join(h.tmp, "proxy"), SimAddr: h.simAddr, MaxLogs: 1_000_000}, 30*time.Second)
	if err != nil {
		h.note("proxy: cannot start infermeter: %s", err)
		return
	}
	defer c.stop()
	time.Sleep(time.Second) // let the start settle
	if h.r.IdleMem, err = c.Memory(); err != nil {
		h.note("proxy: %s", err)
	}
	h.o.Logf("infermeter ready in %s, idle RSS %s", c.ReadyAfter.Round(time.Millisecond), fmtMB(float64(h.r.IdleMem.RSS)))
	targets := []target{
		{Name: "direct", Addr: h.simAddr},
		{Name: "bare", Addr: bareAddr},
	}
	if bp, err := startBareProcess(h.simAddr); err != nil {
		h.note("proxy: %s", err)
	} else {
		defer bp.stop()
		targets = append(targets, target{Name: "bare-proc", Addr: bp.addr})
	}
	targets = append(targets, target{Name: "infermeter", Addr: c.ProxyAddr})
	for i := range targets {
		targets[i].hc = newClient(targets[i].Addr, 256)
		defer targets[i].hc.CloseIdleConnections()
	}
	if err := warmUp(targets); err != nil {
		h.note("proxy: %s", err)
		return
	}
	// The open loop comes first, on a child that has only been warmed up,
	// so that its RSS is that of a steady rate, not what a burst of 64
	// closed-loop clients and 512 streams left behind (AfterLoad, taken at
	// the end, shows that).
	open := newClient(c.ProxyAddr, h.o.Workers)
	defer open.CloseIdleConnections()
	for _, rate := range h.o.Rates {
		var peak int64
		var mu sync.Mutex
		sample := func() {
			if m, err := c.Memory(); err == nil {
				mu.Lock()
				peak = max(peak, m.RSS)
				mu.Unlock()
			}
		}
		h.o.Logf("open loop %s for %s", fmtRate(rate), h.o.OpenDur)
		o := runOpen(open, c.ProxyAddr, rate, h.o.OpenDur, h.o.Workers, 10*time.Second, sample)
		o.PeakRSS = peak
		h.o.Logf("open loop %s: achieved %s, p50 %s p99 %s, late %d, errors %d, peak RSS %s", fmtRate(rate), fmtRate(o.Achieved),
			fmtUS(o.Lat.P50), fmtUS(o.Lat.P99), o.Late, o.Errors, fmtMB(float64(peak)))
		h.r.Open = append(h.r.Open, o)
	}
	open.CloseIdleConnections()

	h.r.Closed = runClosedMatrix(targets, []int{1, 64}, h.o.ClosedDur, h.o.Rounds, h.o.Logf)

	h.o.Logf("%d concurrent streams, direct then through infermeter", h.o.Streams)
	sd := runStreams(h.simAddr, h.o.Streams, 20, 20*time.Millisecond, 60*time.Second)
	h.r.StreamsDirect = &sd
	s := runStreams(c.ProxyAddr, h.o.Streams, 20, 20*time.Millisecond, 60*time.Second)
	h.r.Streams = &s

	if h.r.AfterLoad, err = c.Memory(); err != nil {
		h.note("proxy: %s", err)
	}
	// Every request infermeter answered must be metered and flushed.
	served := int64(warmUpRequests * 2)
	for _, x := range h.r.Closed {
		if x.Target == "infermeter" {
			served += x.OK + x.Errors
		}
	}
	served += int64(s.Streams)
	for _, o := range h.r.Open {
		served += int64(o.OK + o.Errors)
	}
	time.Sleep(2500 * time.Millisecond) // two flush intervals
	m, err := c.scrapeMetrics(meteredMetrics...)
	if err != nil {
		h.note("proxy: %s", err)
		return
	}
	h.r.Metered = &metered{Served: served, Values: m}
}

// meteredMetrics are the metrics that tell whether every request was
// metered and stored.
var meteredMetrics = []string{
	"infermeter_meter_recorded_events_total", "infermeter_meter_dropped_events_total",
	"infermeter_store_flushed_events_total", "infermeter_store_dropped_logs_total", "infermeter_store_flush_errors_total",
}

// seededRuns seeds the many-cells and the many-logs stores (in parallel:
// one writer each) and then measures a child on each, one at a time.
func (h *harness) seededRuns(step func(string, func())) {
	doCells, doLogs := !h.o.Skip["cells"], !h.o.Skip["analytics"]
	if h.o.Skip["cells"] {
		h.note("cells: skipped (-skip)")
	}
	if h.o.Skip["analytics"] {
		h.note("analytics: skipped (-skip)")
	}
	if !doCells && !doLogs {
		return
	}
	// Keep time for loading both stores and the queries after seeding.
	reserve := min(h.o.Budget/3, 170*time.Second)
	deadline := time.Now().Add(h.left() - reserve)
	if h.left()-reserve < 5*time.Second {
		h.note("seeded runs: skipped, out of time budget (%s left)", h.left().Round(time.Second))
		return
	}
	cellsDir, logsDir := filepath.Join(h.tmp, "cells"), filepath.Join(h.tmp, "logs")
	wantCells := h.o.CellMembers * len(seedModels)
	if doCells {
		h.r.Cells = &storeRun{WantCells: wantCells}
	}
	if doLogs {
		h.r.Logs = &storeRun{WantLogs: h.o.Logs}
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	if doCells {
		wg.Go(func() {
			h.o.Logf("seeding %s cells", human(wantCells))
			st, err := seedCells(filepath.Join(cellsDir, "data"), h.o.CellMembers, len(seedModels), deadline)
			h.r.Cells.Seed = st
			if err != nil {
				h.r.Cells.Err = "cannot seed: " + err.Error()
			}
			h.o.Logf("seeded %s cells in %s", human(st.Cells), st.Took.Round(time.Second))
		})
	}
	if doLogs {
		wg.Go(func() {
			h.o.Logf("seeding %s request logs", human(h.o.Logs))
			st, err := seedLogs(filepath.Join(logsDir, "data"), h.o.Logs, h.o.LogMembers, h.o.LogModels, deadline)
			h.r.Logs.Seed = st
			if err != nil {
				h.r.Logs.Err = "cannot seed: " + err.Error()
			}
			h.o.Logf("seeded %s logs and %s cells in %s", human(st.Logs), human(st.Cells), st.Took.Round(time.Second))
		})
	}
	wg.Wait()
	h.r.Phases = append(h.r.Phases, phase{Name: "seed stores (in parallel)", Took: time.Since(t0)})
	debug.FreeOSMemory() // the seeding garbage is not the children's business

	if doCells && h.r.Cells.Err == "" {
		step("cells", func() {
			// Leave the analytics child its share of what is left.
			share := h.left() - 30*time.Second
			if doLogs {
				share /= 2
			}
			c := h.seededChild(h.r.Cells, cellsDir, 0, share)
			c.stop()
		})
	}
	_ = os.RemoveAll(cellsDir)
	if doLogs && h.r.Logs.Err == "" {
		step("analytics", func() {
			c := h.seededChild(h.r.Logs, logsDir, h.o.Logs+1_000_000, h.left()-30*time.Second)
			if c != nil {
				h.o.Logf("analytics queries, %d samples each", h.o.Samples)
				h.r.Queries = runAnalytics(c.AdminAddr, h.r.Logs.Seed.DeepCursor, h.o.Samples, h.o.QueryTime)
				for _, q := range h.r.Queries {
					h.o.Logf("%s: p50 %s p99 %s %s", q.Name, fmtMS(q.Lat.P50), fmtMS(q.Lat.P99), q.Err)
				}
			}
			c.stop()
		})
	}
}

// seededChild starts infermeter on a seeded data dir, waits (at most
// timeout, and at least 45s) for readiness and records its memory.
func (h *harness) seededChild(sr *storeRun, dir string, maxLogs int, timeout time.Duration) *child {
	timeout = max(timeout, 45*time.Second)
	c, err := startChild(childConfig{Bin: h.bin, Dir: dir, SimAddr: h.simAddr, MaxLogs: maxLogs}, timeout)
	if err != nil {
		var nr *childproc.NotReadyError
		if errors.As(err, &nr) {
			sr.Mem, sr.NotReady, sr.Ready = nr.Mem, true, nr.Timeout
		}
		sr.Err = err.Error()
		h.note("%s", err)
		return nil
	}
	sr.Ready = c.ReadyAfter
	time.Sleep(2 * time.Second) // let the load settle
	if sr.Mem, err = c.Memory(); err != nil {
		sr.Err = err.Error()
	}
	h.o.Logf("infermeter on %s: ready in %s, RSS %s (peak %s)", dir, c.ReadyAfter.Round(time.Millisecond), fmtMB(float64(sr.Mem.RSS)), fmtMB(float64(sr.Mem.HWM)))
	return c
}

// readMachine describes this machine.
func readMachine(goCmd string) machine {
	m := machine{CPUs: runtime.NumCPU(), LoadStart: loadAvg(), GoVersion: runtime.Version()}
	if out, err := exec.Command(goCmd, "version").Output(); err == nil {
		m.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
