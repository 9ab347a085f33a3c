package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/store"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds infermeter once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "infermeter-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "infermeter")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %s: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// child is the sidecar binary running in its own process.
type child struct {
	cmd          *exec.Cmd
	proxy, admin string
	log          *bytes.Buffer
	mu           sync.Mutex
	exited       chan struct{} // closed once the process exited
	waitErr      *error        // the error of its Wait, once exited
}

func startChild(t *testing.T, base, dataDir string, flush time.Duration) *child {
	t.Helper()
	c := newChild(t, base, dataDir, flush)
	c.start(t)
	return c
}

// newChild prepares the sidecar binary with its config; start runs it.
// wrap, when set, is a command line the binary and its arguments are
// appended to (a shell that sets a limit first, say).
func newChild(t *testing.T, base, dataDir string, flush time.Duration, wrap ...string) *child {
	t.Helper()
	bin := buildBinary(t)
	c := &child{proxy: freeAddr(t), admin: freeAddr(t), log: &bytes.Buffer{}}
	extra := fmt.Sprintf("proxy_listen: %q\nadmin_listen: %q\nflush_interval: %q\n", c.proxy, c.admin, flush.String())
	path := filepath.Join(t.TempDir(), "child.yaml")
	text := childConfig(base, dataDir) + extra
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, wrap...), bin, "-config", path)
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Env = append(os.Environ(), "OK="+keyOpenAI, "AK="+keyAnthropic, "GK="+keyGemini)
	c.cmd.Stdout = &lockedWriter{c: c}
	c.cmd.Stderr = &lockedWriter{c: c}
	return c
}

// start runs the child and waits until it is ready.
func (c *child) start(t *testing.T) {
	t.Helper()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-exited
		}
	})
	var waitErr error
	go func() {
		waitErr = c.cmd.Wait()
		close(exited)
	}()
	c.exited = exited
	c.waitErr = &waitErr
	waitFor(t, "the child to be ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("the child exited before it was ready: %v\n%s", waitErr, c.output())
		default:
		}
		resp, err := http.Get("http://" + c.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// wait waits for the child to exit and returns the error of its Wait.
func (c *child) wait() error {
	<-c.exited
	return *c.waitErr
}

type lockedWriter struct{ c *child }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.log.Write(p)
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// childConfig is the config text of the child: testConfig's, without the
// listen and flush keys (appended by the caller).
func childConfig(base, dataDir string) string {
	return fmt.Sprintf(`data_dir: %q
shutdown_timeout: "10s"
upstreams:
  - {name: openai, dialect: openai, base_url: %q, api_key: "${OK}"}
  - {name: anthropic, dialect: anthropic, base_url: %q, api_key: "${AK}"}
orgs:
  - id: acme
    members:
      - {id: alice, role: admin, api_key: %q}
`, dataDir, base, base, keyAlice)
}

// load sends requests from n goroutines until stop is closed; it returns
// the completion times of the answered ones (status 200, body read whole).
func load(proxy string, n int, stop <-chan struct{}) func() []time.Time {
	var (
		mu   sync.Mutex
		done []time.Time
		wg   sync.WaitGroup
		seq  atomic.Int64
	)
	client := &http.Client{Timeout: 20 * time.Second}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 100000; k++ {
				select {
				case <-stop:
					return
				default:
				}
				stream := seq.Add(1)%3 == 0
				body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
				if stream {
					body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				}
				req, _ := http.NewRequest("POST", "http://"+proxy+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+keyAlice)
				req.Header.Set("X-Sim-Chunks", "3")
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				complete := err == nil && resp.StatusCode == 200 && (!stream || bytes.Contains(b, []byte("[DONE]")))
				if complete {
					mu.Lock()
					done = append(done, time.Now())
					mu.Unlock()
				}
			}
		}()
	}
	return func() []time.Time {
		wg.Wait()
		return done
	}
}

// storedRequests opens the store of dataDir and sums the requests of every cell.
func storedRequests(t *testing.T, dataDir string) int64 {
	t.Helper()
	st, err := store.Open(dataDir, store.Options{})
	if err != nil {
		t.Fatalf("the store does not reopen: %s", err)
	}
	defer st.Close()
	var n int64
	if err := st.LoadCells(func(_ meter.CellKey, c meter.Cell) { n += c.Requests }); err != nil {
		t.Fatal(err)
	}
	if logs := int64(st.LogCount()); logs != n {
		t.Fatalf("the store holds %d request logs but its cells count %d requests", logs, n)
	}
	return n
}

func TestSIGTERMDrainsAndFlushesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	_, base := startSim(t, sim.Options{Gap: 2 * time.Millisecond})
	dataDir := t.TempDir()
	c := startChild(t, base, dataDir, time.Second)
	stop := make(chan struct{})
	wait := load(c.proxy, 8, stop)
	time.Sleep(700 * time.Millisecond)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := c.wait()
	close(stop)
	answered := wait()
	if err != nil {
		t.Fatalf("the sidecar did not exit cleanly on SIGTERM: %s\n%s", err, c.output())
	}
	if len(answered) == 0 {
		t.Fatalf("no request was answered before SIGTERM\n%s", c.output())
	}
	// Every answered request is in the totals after a restart; nothing
	// that was not answered in full is counted twice.
	got := storedRequests(t, dataDir)
	if got < int64(len(answered)) {
		t.Fatalf("after SIGTERM the store counts %d requests, but %d were answered\n%s", got, len(answered), c.output())
	}
	t.Logf("answered %d, stored %d", len(answered), got)
}

func TestCrashSIGKILLLosesAtMostOneFlushInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const flush = 200 * time.Millisecond
	// slack covers the hand-off to the meter and the commit itself.
	const slack = 300 * time.Millisecond
	const rounds = 12
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	_, base := startSim(t, sim.Options{Gap: time.Millisecond})
	dataDir := t.TempDir()
	total := 0
	var maxWindow time.Duration
	for round := range rounds {
		c := startChild(t, base, dataDir, flush)
		stop := make(chan struct{})
		wait := load(c.proxy, 6, stop)
		// A random point of the flush cycle, from at once to 6 flushes in.
		after := time.Duration(rng.Int64N(int64(1200 * time.Millisecond)))
		time.Sleep(after)
		killedAt := time.Now()
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = c.wait()
		close(stop)
		answered := wait()
		slices.SortFunc(answered, func(a, b time.Time) int { return a.Compare(b) })
		mustHave := 0
		for _, at := range answered {
			if at.Before(killedAt.Add(-flush - slack)) {
				mustHave++
			}
		}
		// The store opens (in this process; the next round's binary too).
		got := storedRequests(t, dataDir)
		lost := int64(total+len(answered)) - got
		// The loss window: how long before the kill the oldest answered
		// request that is not stored was answered (the meter flushes in
		// order, so the lost ones are the newest).
		var window time.Duration
		if lost > 0 {
			window = killedAt.Sub(answered[len(answered)-int(lost)])
			maxWindow = max(maxWindow, window)
		}
		t.Logf("round %d: killed after %s: answered %d (%d older than one flush interval), stored in all %d, lost %d (window %s)",
			round, after.Round(time.Millisecond), len(answered), mustHave, got, max(lost, 0), window.Round(time.Millisecond))
		if got < int64(total+mustHave) {
			t.Fatalf("round %d: the store counts %d requests; every request answered more than %s before the kill (%d, plus %d before) must be there",
				round, got, flush+slack, mustHave, total)
		}
		if got > int64(total+len(answered))+6 { // at most one in flight per load goroutine
			t.Fatalf("round %d: the store counts %d requests, more than were sent (%d)", round, got, total+len(answered))
		}
		total = int(got)
	}
	t.Logf("%d SIGKILLs: the store always opened; %d requests stored; largest loss window %s (flush_interval %s)",
		rounds, total, maxWindow.Round(time.Millisecond), flush)
}
