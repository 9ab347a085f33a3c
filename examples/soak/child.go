package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/infermeter/infermeter/examples/childproc"
)

// childConfig is what the infermeter under test is started with.
type childConfig struct {
	Bin     string // the infermeter binary
	Dir     string // its directory: config, log, data
	SimAddr string // the simulator's host:port
	Keys    []string
	MaxLogs int
}

// child is the infermeter process under test.
type child struct {
	*childproc.Process
}

// childYAML is the config of the child: loopback listeners, the store in
// dataDir, every upstream on the simulator, one org whose members hold keys.
func childYAML(cc childConfig, proxyAddr, adminAddr, dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "proxy_listen: %q\nadmin_listen: %q\ndata_dir: %q\n", proxyAddr, adminAddr, dataDir)
	fmt.Fprintf(&b, "flush_interval: \"1s\"\nshutdown_timeout: \"10s\"\nmax_logs: %d\n", cc.MaxLogs)
	b.WriteString("upstreams:\n")
	for _, u := range []string{"openai", "anthropic", "gemini"} {
		fmt.Fprintf(&b, "  - {name: %s, dialect: %s, base_url: %q, api_key: \"sk-sim-%s\"}\n", u, u, "http://"+cc.SimAddr, u)
	}
	b.WriteString("orgs:\n  - id: soak\n    name: \"Soak Inc\"\n    monthly_budget_usd: 0\n    members:\n")
	depts := []string{"research", "platform", "sales"}
	for i, k := range cc.Keys {
		role := "member"
		if i == 0 {
			role = "admin"
		}
		fmt.Fprintf(&b, "      - {id: m%d, department: %s, role: %s, api_key: %q}\n", i, depts[i%len(depts)], role, k)
	}
	return b.String()
}

// startChild writes the config into cc.Dir, starts infermeter and waits
// until its /readyz answers 200 (at most readyTimeout; see childproc.Start).
func startChild(cc childConfig, readyTimeout time.Duration) (*child, error) {
	dataDir := filepath.Join(cc.Dir, "data")
	p, err := childproc.Start(cc.Bin, cc.Dir, func(proxyAddr, adminAddr string) string {
		return childYAML(cc, proxyAddr, adminAddr, dataDir)
	}, readyTimeout)
	if err != nil {
		return nil, err
	}
	return &child{p}, nil
}

// stopTimeout bounds the child's shutdown before it is killed: its
// shutdown_timeout (10s) plus time for the final flush.
const stopTimeout = 30 * time.Second

// stop sends SIGTERM and waits for the exit (at most stopTimeout, then
// SIGKILL). It returns the child's exit error: nil after a clean shutdown.
func (c *child) stop() error { return c.Stop(stopTimeout) }

// sample reads the child's RSS from /proc/<pid>/status, and its goroutines
// and heap in use from go_goroutines and go_memstats_heap_inuse_bytes on its
// /metrics.
func (c *child) sample() (sample, error) {
	var s sample
	m, err := c.Memory()
	if err != nil {
		return s, fmt.Errorf("cannot read the status of infermeter: %w", err)
	}
	s.RSS = m.RSS
	body, err := c.Metrics()
	if err != nil {
		return s, err
	}
	var ok bool
	if s.Goroutines, ok = childproc.MetricValue(body, "go_goroutines"); !ok {
		return s, errors.New("cannot find go_goroutines in /metrics")
	}
	heap, _ := childproc.MetricValue(body, "go_memstats_heap_inuse_bytes")
	s.Heap = int64(heap)
	return s, nil
}

// meteringSummary reads the child's metering counters: what the meter
// recorded and dropped, what the store flushed, and the mean flush time.
func (c *child) meteringSummary() (string, error) {
	body, err := c.Metrics()
	if err != nil {
		return "", err
	}
	v := func(name string) float64 { x, _ := childproc.MetricValue(body, name); return x }
	var mean time.Duration
	if n := v("infermeter_store_flush_duration_seconds_count"); n > 0 {
		mean = time.Duration(v("infermeter_store_flush_duration_seconds_sum") / n * float64(time.Second))
	}
	return fmt.Sprintf("metering: recorded %.0f, dropped %.0f (queue full); store flushed %.0f in %.0f flushes (mean %s), flush errors %.0f, logs dropped %.0f (flushes failing)",
		v("infermeter_meter_recorded_events_total"), v("infermeter_meter_dropped_events_total"),
		v("infermeter_store_flushed_events_total"), v("infermeter_store_flushes_total"), mean.Round(time.Microsecond),
		v("infermeter_store_flush_errors_total"), v("infermeter_store_dropped_logs_total")), nil
}
