// Package childproc runs an infermeter binary as a child process of the load
// tools (examples/bench, examples/soak): on free loopback ports, with a
// config the tool writes, until /readyz answers; then it reads the child's
// memory from /proc, its /metrics, its log, and stops it with SIGTERM.
package childproc

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

// Process is one infermeter child.
type Process struct {
	Cmd       *exec.Cmd
	ProxyAddr string // host:port of its proxy listener
	AdminAddr string // host:port of its admin listener
	LogPath   string // its stdout and stderr
	// ReadyAfter is how long it took from exec to the first 200 of /readyz.
	ReadyAfter time.Duration

	exited  chan struct{}
	waitErr error
}

// Start writes the config that config returns for the listener addresses
// into dir/infermeter.yaml, starts bin with it (its output in
// dir/infermeter.log) and waits until /readyz answers 200, at most
// readyTimeout. A port taken in the meantime is retried twice. When the
// child is still starting at the timeout, it is made to dump its goroutines
// and the error is a *NotReadyError.
func Start(bin, dir string, config func(proxyAddr, adminAddr string) string, readyTimeout time.Duration) (*Process, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %q: %w", dir, err)
	}
	var lastErr error
	for range 3 {
		p, err := startOnce(bin, dir, config, readyTimeout)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startOnce(bin, dir string, config func(proxyAddr, adminAddr string) string, readyTimeout time.Duration) (*Process, error) {
	proxyAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "infermeter.yaml")
	if err := os.WriteFile(cfgPath, []byte(config(proxyAddr, adminAddr)), 0o600); err != nil {
		return nil, fmt.Errorf("cannot write config %q: %w", cfgPath, err)
	}
	p := &Process{ProxyAddr: proxyAddr, AdminAddr: adminAddr, LogPath: filepath.Join(dir, "infermeter.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create log %q: %w", p.LogPath, err)
	}
	p.Cmd = exec.Command(bin, "-config", cfgPath)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	started := time.Now()
	if err := p.Cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("cannot start %q: %w", bin, err)
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	if err := p.waitReady(readyTimeout); err != nil {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%w; log: %s", err, p.LogTail())
		default:
		}
		// Still starting: say how big it got and where it is stuck.
		nr := &NotReadyError{Timeout: readyTimeout}
		nr.Mem, _ = p.Memory()
		nr.Stack = p.dumpMain()
		return nil, nr
	}
	p.ReadyAfter = time.Since(started)
	return p, nil
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

// NotReadyError is returned by Start when infermeter was still starting at
// the timeout: how big it was then and where it was stuck.
type NotReadyError struct {
	Timeout time.Duration
	Mem     Memory // when given up
	Stack   string // main goroutine, innermost first
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("cannot get 200 from /readyz of infermeter in %s (RSS then %.1f MB, peak %.1f MB); main goroutine: %s",
		e.Timeout.Round(time.Second), float64(e.Mem.RSS)/(1<<20), float64(e.Mem.HWM)/(1<<20), e.Stack)
}

// waitReady polls /readyz until it answers 200.
func (p *Process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := "http://" + p.AdminAddr + "/readyz"
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("infermeter exited before it was ready: %w", p.waitErr)
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

// Exited is closed when the child has exited; WaitErr then tells how.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitErr is the child's exit error (nil for a clean exit), once Exited is
// closed.
func (p *Process) WaitErr() error { return p.waitErr }

// Stop sends SIGTERM and waits for the exit (at most timeout, then
// SIGKILL). It returns the child's exit error: nil after a clean shutdown.
// A nil Process does nothing.
func (p *Process) Stop(timeout time.Duration) error {
	if p == nil || p.Cmd.Process == nil {
		return nil
	}
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("infermeter did not exit within %s of SIGTERM: killed", timeout)
	}
}

// LogTail returns the last lines of the child's log.
func (p *Process) LogTail() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Metrics returns the body of the child's /metrics.
func (p *Process) Metrics() ([]byte, error) {
	status, body, err := fasthttp.GetTimeout(nil, "http://"+p.AdminAddr+"/metrics", 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot read /metrics: %w", err)
	}
	if status != fasthttp.StatusOK {
		return nil, fmt.Errorf("cannot read /metrics: status %d", status)
	}
	return body, nil
}

// MetricValue returns the value of the metric name in a Prometheus text
// exposition, summed over its label sets, and whether it was found.
func MetricValue(body []byte, name string) (float64, bool) {
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

// Memory is the resident memory of a process, from /proc/<pid>/status.
type Memory struct {
	RSS, HWM int64 // bytes: VmRSS (now) and VmHWM (peak since start)
}

// Memory returns the child's current memory.
func (p *Process) Memory() (Memory, error) { return ReadMemory(p.Cmd.Process.Pid) }

// ReadMemory reads VmRSS and VmHWM of pid.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("no /proc/<pid>/status: %w", err)
	}
	return ParseStatus(b)
}

// ParseStatus reads VmRSS and VmHWM (in kB) out of a /proc/<pid>/status
// file.
func ParseStatus(b []byte) (Memory, error) {
	var m Memory
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

// dumpMain makes the child dump its goroutines and exit (SIGQUIT) and
// returns the functions on the stack of its main goroutine, innermost first.
//
// The signal goes to the busiest thread of the child, so the goroutine
// running there (at start, the main one) is dumped with its stack rather
// than as "running on other thread".
func (p *Process) dumpMain() string {
	pid := p.Cmd.Process.Pid
	if tid := busiestThread(pid); tid > 0 {
		_ = syscall.Tgkill(pid, tid, syscall.SIGQUIT)
	} else {
		_ = p.Cmd.Process.Signal(syscall.SIGQUIT)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
	b, err := os.ReadFile(p.LogPath)
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
