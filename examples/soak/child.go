package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
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
	cmd       *exec.Cmd
	proxyAddr string
	adminAddr string
	logPath   string
	exited    chan struct{}
	waitErr   error
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot listen on loopback: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
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
// until its /readyz answers 200 (at most readyTimeout). A port taken in the
// meantime is retried twice.
func startChild(cc childConfig, readyTimeout time.Duration) (*child, error) {
	var lastErr error
	for range 3 {
		c, err := startChildOnce(cc, readyTimeout)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startChildOnce(cc childConfig, readyTimeout time.Duration) (*child, error) {
	proxyAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(cc.Dir, "infermeter.yaml")
	cfg := childYAML(cc, proxyAddr, adminAddr, filepath.Join(cc.Dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("cannot write config %q: %w", cfgPath, err)
	}
	c := &child{proxyAddr: proxyAddr, adminAddr: adminAddr, logPath: filepath.Join(cc.Dir, "infermeter.log"), exited: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create log %q: %w", c.logPath, err)
	}
	c.cmd = exec.Command(cc.Bin, "-config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("cannot start %q: %w", cc.Bin, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		_ = logf.Close()
		close(c.exited)
	}()
	if err := c.waitReady(readyTimeout); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w; log: %s", err, c.logTail())
	}
	return c, nil
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := "http://" + c.adminAddr + "/readyz"
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("infermeter exited before it was ready: %w", c.waitErr)
		default:
		}
		status, _, err := fasthttp.GetTimeout(nil, url, time.Second)
		if err == nil && status == fasthttp.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot get 200 from /readyz of infermeter in %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopTimeout bounds the child's shutdown before it is killed: its
// shutdown_timeout (10s) plus time for the final flush.
const stopTimeout = 30 * time.Second

// stop sends SIGTERM and waits for the exit (at most stopTimeout, then
// SIGKILL). It returns the child's exit error: nil after a clean shutdown.
func (c *child) stop() error {
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("infermeter did not exit within %s of SIGTERM: killed", stopTimeout)
	}
}

// logTail returns the last lines of the child's log.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// sample reads the child's RSS from /proc/<pid>/status, and its goroutines
// and heap in use from go_goroutines and go_memstats_heap_inuse_bytes on its
// /metrics.
func (c *child) sample() (sample, error) {
	var s sample
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("cannot read the status of infermeter: %w", err)
	}
	if s.RSS, err = parseVmRSS(b); err != nil {
		return s, err
	}
	body, err := c.metrics()
	if err != nil {
		return s, err
	}
	var ok bool
	if s.Goroutines, ok = metricValue(body, "go_goroutines"); !ok {
		return s, errors.New("cannot find go_goroutines in /metrics")
	}
	heap, _ := metricValue(body, "go_memstats_heap_inuse_bytes")
	s.Heap = int64(heap)
	return s, nil
}

// metrics returns the body of the child's /metrics.
func (c *child) metrics() ([]byte, error) {
	status, body, err := fasthttp.GetTimeout(nil, "http://"+c.adminAddr+"/metrics", 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot read /metrics: %w", err)
	}
	if status != fasthttp.StatusOK {
		return nil, fmt.Errorf("cannot read /metrics: status %d", status)
	}
	return body, nil
}

// parseVmRSS returns VmRSS in bytes out of a /proc/<pid>/status file.
func parseVmRSS(b []byte) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("cannot parse VmRSS %q", rest)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse VmRSS: %w", err)
		}
		return n << 10, nil
	}
	return 0, errors.New("cannot find VmRSS")
}

// metricValue returns the value of the metric name in a Prometheus text
// exposition, summed over its label sets, and whether it was found.
func metricValue(body []byte, name string) (float64, bool) {
	var sum float64
	found := false
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		sp := bytes.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		n := line[:sp]
		if i := bytes.IndexByte(n, '{'); i >= 0 {
			n = n[:i]
		}
		if string(n) != name {
			continue
		}
		if v, err := strconv.ParseFloat(string(line[sp+1:]), 64); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// meteringSummary reads the child's metering counters: what the meter
// recorded and dropped, what the store flushed, and the mean flush time.
func (c *child) meteringSummary() (string, error) {
	body, err := c.metrics()
	if err != nil {
		return "", err
	}
	v := func(name string) float64 { x, _ := metricValue(body, name); return x }
	var mean time.Duration
	if n := v("infermeter_store_flush_duration_seconds_count"); n > 0 {
		mean = time.Duration(v("infermeter_store_flush_duration_seconds_sum") / n * float64(time.Second))
	}
	return fmt.Sprintf("metering: recorded %.0f, dropped %.0f (queue full); store flushed %.0f in %.0f flushes (mean %s), flush errors %.0f, logs dropped %.0f (flushes failing)",
		v("infermeter_meter_recorded_events_total"), v("infermeter_meter_dropped_events_total"),
		v("infermeter_store_flushed_events_total"), v("infermeter_store_flushes_total"), mean.Round(time.Microsecond),
		v("infermeter_store_flush_errors_total"), v("infermeter_store_dropped_logs_total")), nil
}
