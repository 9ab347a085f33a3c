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

// adminKey is the key of the one member of the benchmark org, an admin, so
// it sees the whole org in the analytics routes.
const adminKey = "im-bench-admin-key"

// childConfig is what a child infermeter is started with.
type childConfig struct {
	Bin     string
	Dir     string // its own directory: config, log, data
	DataDir string // "" means Dir/data
	SimAddr string
	MaxLogs int
	// FlushInterval is the config's flush_interval; "" means "1s".
	FlushInterval string
}

// child is one infermeter process started by the harness.
type child struct {
	cmd        *exec.Cmd
	proxyAddr  string
	adminAddr  string
	logPath    string
	started    time.Time
	readyAfter time.Duration
	exited     chan struct{}
	waitErr    error
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

// writeChildConfig writes the YAML config of a child and returns its path.
func writeChildConfig(cc childConfig, proxyAddr, adminAddr string) (string, error) {
	data := cc.DataDir
	if data == "" {
		data = filepath.Join(cc.Dir, "data")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "proxy_listen: %q\nadmin_listen: %q\ndata_dir: %q\n", proxyAddr, adminAddr, data)
	flush := cc.FlushInterval
	if flush == "" {
		flush = "1s"
	}
	fmt.Fprintf(&b, "timezone: \"UTC\"\nflush_interval: %q\nlog_retention: \"3650d\"\nshutdown_timeout: \"10s\"\n", flush)
	fmt.Fprintf(&b, "max_logs: %d\n", cc.MaxLogs)
	b.WriteString("upstreams:\n")
	for _, u := range []string{"openai", "anthropic", "gemini"} {
		fmt.Fprintf(&b, "  - {name: %s, dialect: %s, base_url: %q, api_key: \"sk-sim-%s\"}\n", u, u, "http://"+cc.SimAddr, u)
	}
	b.WriteString("orgs:\n  - id: " + benchOrg + "\n    name: \"Acme Inc\"\n    timezone: \"UTC\"\n    members:\n")
	fmt.Fprintf(&b, "      - {id: %s, email: \"bench@acme.example\", department: research, role: admin, api_key: %q}\n", memberID(0), adminKey)
	path := filepath.Join(cc.Dir, "infermeter.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("cannot write config %q: %w", path, err)
	}
	return path, nil
}

// startChild starts infermeter with a config written into cc.Dir and waits
// until /readyz answers 200 (at most readyTimeout).
func startChild(cc childConfig, readyTimeout time.Duration) (*child, error) {
	if err := os.MkdirAll(cc.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %q: %w", cc.Dir, err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
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
	cfgPath, err := writeChildConfig(cc, proxyAddr, adminAddr)
	if err != nil {
		return nil, err
	}
	c := &child{proxyAddr: proxyAddr, adminAddr: adminAddr, logPath: filepath.Join(cc.Dir, "infermeter.log"), exited: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create %q: %w", c.logPath, err)
	}
	c.cmd = exec.Command(cc.Bin, "-config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.started = time.Now()
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
		select {
		case <-c.exited:
			return nil, fmt.Errorf("%w; log: %s", err, c.logTail())
		default:
		}
		// Still starting: say how big it got and where it is stuck.
		nr := &notReadyError{Timeout: readyTimeout}
		nr.Mem, _ = c.memory()
		nr.Stack = c.dumpMain()
		return nil, nr
	}
	c.readyAfter = time.Since(c.started)
	return c, nil
}

// notReadyError is returned by startChild when infermeter was still
// starting at the timeout: how big it was then and where it was stuck.
type notReadyError struct {
	Timeout time.Duration
	Mem     memory // when given up
	Stack   string // main goroutine, innermost first
}

func (e *notReadyError) Error() string {
	return fmt.Sprintf("cannot get 200 from /readyz of infermeter in %s (RSS then %s, peak %s); main goroutine: %s",
		e.Timeout.Round(time.Second), fmtMB(float64(e.Mem.RSS)), fmtMB(float64(e.Mem.HWM)), e.Stack)
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := "http://" + c.adminAddr + "/readyz"
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("infermeter exited before it was ready: %v", c.waitErr)
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

// stop sends SIGTERM and waits (at most 60s, then SIGKILL).
func (c *child) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// dumpMain makes the child dump its goroutines and exit (SIGQUIT) and
// returns the functions on the stack of its main goroutine, innermost first.
//
// The signal goes to the busiest thread of the child, so the goroutine
// running there (at start, the main one) is dumped with its stack rather
// than as "running on other thread".
func (c *child) dumpMain() string {
	pid := c.cmd.Process.Pid
	if tid := busiestThread(pid); tid > 0 {
		_ = syscall.Tgkill(pid, tid, syscall.SIGQUIT)
	} else {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log)"
	}
	return mainStack(b)
}

// busiestThread returns the thread of pid that is running and has used the
// most CPU, or 0.
func busiestThread(pid int) int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	best, bestCPU, bestRunning := 0, int64(-1), false
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		running := f[0] == "R"
		if (running && !bestRunning) || (running == bestRunning && ut+st > bestCPU) {
			best, bestCPU, bestRunning = tid, ut+st, running
		}
	}
	return best
}

// mainStack returns the function names on goroutine 1's stack in a Go
// goroutine dump, innermost first, joined by " ← ", without the Go
// runtime's frames.
func mainStack(dump []byte) string {
	_, rest, ok := bytes.Cut(dump, []byte("\ngoroutine 1 "))
	if !ok {
		return "(no goroutine 1 in the dump)"
	}
	var frames []string
	for i, line := range strings.Split(string(rest), "\n") {
		if i == 0 || strings.HasPrefix(line, "\t") {
			continue
		}
		if line == "" || len(frames) == 6 {
			break
		}
		fn := line
		if j := strings.LastIndexByte(fn, '('); j > 0 {
			fn = fn[:j]
		}
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") {
			continue // the Go runtime's own frames say little
		}
		frames = append(frames, strings.TrimPrefix(fn, "github.com/infermeter/infermeter/"))
	}
	return strings.Join(frames, " ← ")
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

// memory is the resident memory of a process, from /proc/<pid>/status.
type memory struct {
	RSS, HWM int64 // bytes: VmRSS (now) and VmHWM (peak since start)
}

var errNoProc = errors.New("no /proc/<pid>/status")

// readMemory reads VmRSS and VmHWM of pid.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, fmt.Errorf("%w: %w", errNoProc, err)
	}
	return parseStatus(b)
}

// parseStatus reads VmRSS and VmHWM (in kB) out of a /proc/<pid>/status
// file.
func parseStatus(b []byte) (memory, error) {
	var m memory
	var found int
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("cannot parse %s: %q", name, rest)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("cannot parse %s: %w", name, err)
		}
		*dst = n << 10
		found++
	}
	if found != 2 {
		return m, errors.New("cannot find VmRSS and VmHWM")
	}
	return m, nil
}

// memory returns the child's current memory.
func (c *child) memory() (memory, error) { return readMemory(c.cmd.Process.Pid) }

// scrapeMetrics returns the value of each named metric of the child's
// /metrics, summed over its label sets.
func (c *child) scrapeMetrics(names ...string) (map[string]float64, error) {
	status, body, err := fasthttp.GetTimeout(nil, "http://"+c.adminAddr+"/metrics", 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot read /metrics: %w", err)
	}
	if status != fasthttp.StatusOK {
		return nil, fmt.Errorf("cannot read /metrics: status %d", status)
	}
	return parseMetrics(body, names), nil
}

// parseMetrics sums the samples of each of names in a Prometheus text
// exposition.
func parseMetrics(body []byte, names []string) map[string]float64 {
	out := map[string]float64{}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		sp := bytes.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := bytes.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		for _, n := range names {
			if string(name) == n {
				if v, err := strconv.ParseFloat(string(line[sp+1:]), 64); err == nil {
					out[n] += v
				}
			}
		}
	}
	return out
}
