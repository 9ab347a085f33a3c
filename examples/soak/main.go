// Command soak runs infermeter under a steady load for a long time and checks
// that its memory and goroutines stay flat (`make soak`; not part of CI).
//
// It starts the bundled simulated provider (package sim) in-process on
// loopback and the infermeter binary (-bin) as a child with a generated
// config in a temporary directory, then sends an open-loop mix of OpenAI,
// Anthropic and Gemini requests (-stream-share of them streamed) at -rate
// requests per second for -duration. Every -interval it prints elapsed
// time, requests ok/failed/shed, the rate achieved since the previous line,
// the child's RSS (VmRSS of /proc/<pid>/status), Go heap in use and
// goroutines (go_goroutines of its admin /metrics).
//
// The verdict: RSS and goroutines are sampled every -interval/12 (100ms to
// 10s); the samples after the warm-up (-warmup; by default a tenth of the
// run, at least 3 minutes and twice the time to fill max_logs, at most half
// the run) are split into thirds, and a series is flat when the last
// third's maximum is at most the first third's maximum × 1.10 + 8 MiB (RSS)
// or + 25 (goroutines). The run passes when both are flat, at most 1% of the
// requests failed or were shed, and infermeter exits 0 at SIGTERM;
// otherwise soak exits 1. A run shorter than 10 minutes is a smoke: its
// flatness verdict is printed but does not set the exit code. The load is
// bounded (it stops at -duration, at most 2h, after at most rate × duration
// requests) and only ever targets loopback. Each line also shows the Go
// heap in use (go_memstats_heap_inuse_bytes), to tell live heap from memory
// the runtime keeps; it is not judged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// Bounds of the flags.
const (
	maxDuration    = 2 * time.Hour
	maxRate        = 50_000
	maxConcurrency = 10_000
)

// flags are the command line of soak.
type flags struct {
	bin         string
	duration    time.Duration
	rate        float64
	streamShare float64
	interval    time.Duration
	warmup      time.Duration
	concurrency int
	maxLogs     int
	ttft, gap   time.Duration
	seed        uint64
}

func main() {
	var f flags
	flag.StringVar(&f.bin, "bin", "bin/infermeter", "the infermeter binary to soak")
	flag.DurationVar(&f.duration, "duration", 30*time.Minute, "how long to send load (at most 2h)")
	flag.Float64Var(&f.rate, "rate", 2000, "requests per second, open loop")
	flag.Float64Var(&f.streamShare, "stream-share", 0.3, "share of streamed requests (0..1)")
	flag.DurationVar(&f.interval, "interval", time.Minute, "a report line every interval")
	flag.DurationVar(&f.warmup, "warmup", 0, "samples before this are left out of the verdict (0: a tenth of the run, at least 3m and twice the time to fill max_logs, at most half the run)")
	flag.IntVar(&f.concurrency, "concurrency", 1024, "requests in flight at most (and as many waiting); a request due beyond that is shed")
	flag.IntVar(&f.maxLogs, "max-logs", 50_000, "max_logs of the infermeter under test (the store keeps request logs in memory up to it)")
	flag.DurationVar(&f.ttft, "ttft", 50*time.Millisecond, "simulator: delay before the first event of a stream")
	flag.DurationVar(&f.gap, "gap", 10*time.Millisecond, "simulator: delay between two stream events")
	flag.Uint64Var(&f.seed, "seed", 1, "seed of the request mix")
	flag.Parse()
	if err := f.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pass, err := run(ctx, f, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !pass {
		os.Exit(1)
	}
}

func (f *flags) validate() error {
	switch {
	case f.bin == "":
		return errors.New("missing -bin: give the infermeter binary")
	case f.duration <= 0 || f.duration > maxDuration:
		return fmt.Errorf("invalid -duration %s: want more than 0 and at most %s", f.duration, maxDuration)
	case f.rate <= 0 || f.rate > maxRate:
		return fmt.Errorf("invalid -rate %v: want more than 0 and at most %d", f.rate, maxRate)
	case f.streamShare < 0 || f.streamShare > 1:
		return fmt.Errorf("invalid -stream-share %v: want 0..1", f.streamShare)
	case f.interval <= 0 || f.interval > f.duration:
		return fmt.Errorf("invalid -interval %s: want more than 0 and at most -duration", f.interval)
	case f.warmup < 0 || f.warmup >= f.duration:
		return fmt.Errorf("invalid -warmup %s: want 0 (auto) or less than -duration", f.warmup)
	case f.concurrency <= 0 || f.concurrency > maxConcurrency:
		return fmt.Errorf("invalid -concurrency %d: want 1..%d", f.concurrency, maxConcurrency)
	case f.maxLogs < 0:
		return fmt.Errorf("invalid -max-logs %d: want 0 or more", f.maxLogs)
	case f.ttft < 0 || f.gap < 0:
		return errors.New("invalid -ttft or -gap: want 0 or more")
	}
	return nil
}

// sampleEvery is the sampling period for a report interval: a twelfth of
// it, between 100ms and 10s.
func sampleEvery(interval time.Duration) time.Duration {
	return min(max(interval/12, 100*time.Millisecond), 10*time.Second).Round(time.Millisecond)
}

// soakKeys are the member keys of the generated config.
var soakKeys = []string{"im-soak-1", "im-soak-2", "im-soak-3"}

// run starts the simulator and infermeter, drives the load, prints the
// report and the verdict to w, and reports whether the soak passed.
func run(ctx context.Context, f flags, w io.Writer) (bool, error) {
	dir, err := os.MkdirTemp("", "infermeter-soak-")
	if err != nil {
		return false, fmt.Errorf("cannot create a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, fmt.Errorf("cannot listen on loopback for the simulator: %w", err)
	}
	s := sim.New(sim.Options{TTFT: f.ttft, Gap: f.gap, MaxRecorded: -1})
	go func() { _ = s.Serve(ln) }()
	defer s.Close()

	c, err := startChild(childConfig{Bin: f.bin, Dir: dir, SimAddr: ln.Addr().String(), Keys: soakKeys, MaxLogs: f.maxLogs}, 30*time.Second)
	if err != nil {
		return false, err
	}
	defer c.stop()

	warmup := f.warmup
	if warmup == 0 {
		warmup = autoWarmup(f.duration, f.rate, f.maxLogs)
	}
	p := params{
		Duration: f.duration, Interval: f.interval, SampleEvery: sampleEvery(f.interval),
		Rate: f.rate, StreamShare: f.streamShare, Concurrency: f.concurrency, Keys: soakKeys, Seed: f.seed,
	}
	fmt.Fprintf(w, "soak: %.0f req/s for %s (%.0f%% streamed) through infermeter (pid %d, max_logs %d) to the simulator\n",
		f.rate, f.duration, 100*f.streamShare, c.Cmd.Process.Pid, f.maxLogs)
	fmt.Fprintf(w, "soak: a line every %s; samples every %s; verdict on the samples after a warm-up of %s\n",
		p.Interval, p.SampleEvery, warmup)

	// Stop the load if the child dies.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.Exited():
			cancel()
		case <-ctx.Done():
		}
	}()
	res := drive(ctx, p, c.ProxyAddr, c.sample, w)
	cancel()

	var problems []string
	if m, err := c.meteringSummary(); err == nil {
		fmt.Fprintln(w, m)
	}
	select {
	case <-c.Exited():
		problems = append(problems, fmt.Sprintf("infermeter exited during the run (%v); log: %s", c.WaitErr(), c.LogTail()))
	default:
		if err := c.stop(); err != nil {
			problems = append(problems, fmt.Sprintf("infermeter did not shut down cleanly: %s; log: %s", err, c.LogTail()))
		}
	}
	if res.SampleErr != nil {
		problems = append(problems, "sampling: "+res.SampleErr.Error())
	}
	t := res.Total
	fmt.Fprintf(w, "total: %d ok, %d failed, %d shed in %s (%.1f/s answered)\n",
		t.OK, t.Failed, t.Shed, res.Elapsed.Round(time.Second), float64(t.OK+t.Failed)/res.Elapsed.Seconds())
	if !loadOK(t) {
		problems = append(problems, fmt.Sprintf("more than %.0f%% of the requests failed or were shed", 100*maxFailedShare))
	}
	// A run shorter than minEnforcedRun is a smoke: its flatness verdict is
	// printed, not enforced.
	enforced := f.duration >= minEnforcedRun
	flatWord := "PASS: RSS and goroutines flat"
	rss, gr, err := judge(res.Samples, warmup)
	switch {
	case err != nil && enforced:
		problems = append(problems, err.Error())
	case err != nil:
		flatWord = "flatness not judged (" + err.Error() + ")"
	default:
		fmt.Fprintln(w, "verdict: "+rss.String())
		fmt.Fprintln(w, "verdict: "+gr.String())
		switch {
		case (!rss.Flat || !gr.Flat) && enforced:
			problems = append(problems, "RSS or goroutines grew beyond the tolerance")
		case !rss.Flat || !gr.Flat:
			flatWord = "RSS or goroutines NOT flat (advisory)"
		case !enforced:
			flatWord = "RSS and goroutines flat (advisory)"
		}
	}
	if !enforced {
		flatWord += fmt.Sprintf("; a run under %s is a smoke: its flatness verdict does not set the exit code", minEnforcedRun)
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "verdict: FAIL: "+strings.Join(problems, "; "))
		return false, nil
	}
	if !enforced {
		fmt.Fprintln(w, "verdict: smoke OK (load and clean shutdown); "+flatWord)
		return true, nil
	}
	fmt.Fprintln(w, "verdict: "+flatWord)
	return true, nil
}
