package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/store"
)

// childMetric reads one unlabelled metric from the child's /metrics.
func childMetric(t *testing.T, c *child, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		t.Fatalf("cannot read /metrics: %s", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, v)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// sendRequests sends n requests from 4 goroutines and returns how many got
// a whole 200; it fails the test on any other answer.
func sendRequests(t *testing.T, c *child, n int) int64 {
	t.Helper()
	var ok atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	client := &http.Client{Timeout: 20 * time.Second}
	var next atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				st, body, err := doRequest(client, "http://"+c.proxy+"/v1/chat/completions",
					map[string]string{"Authorization": "Bearer " + keyAlice},
					`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
				if err != nil || st != 200 {
					errs <- fmt.Sprintf("got %d %q, %v", st, body, err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("a request failed while the disk was full: %s\n%s", e, c.output())
	}
	return ok.Load()
}

// limitedChild starts the binary with a soft file-size limit (RLIMIT_FSIZE)
// headroom bytes above what the store file needs to open: once the store
// grows past it, its writes fail with EFBIG. The hard limit stays
// unlimited, so prlimit can lift the soft one. The shell does not ignore
// SIGXFSZ: the binary must.
func limitedChild(t *testing.T, base, dataDir string, headroom int64) *child {
	t.Helper()
	// Opening the store replays its journal only when its writes are not
	// all in it (then it appends the last batch again): measure what
	// opening it appends (nothing, usually) by opening it here once.
	path := filepath.Join(dataDir, store.FileName)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	storedRequests(t, dataDir)
	after := size()
	blocks := (after + (after - before) + headroom) / 512 // sh counts 512-byte blocks
	c := newChild(t, base, dataDir, 100*time.Millisecond,
		"sh", "-c", fmt.Sprintf(`ulimit -S -f %d && exec "$0" "$@"`, blocks))
	c.start(t)
	return c
}

// TestDiskFullKeepsServing fills the store's disk (a file-size limit on
// the binary): requests keep being answered, every failed flush counts in
// infermeter_store_flush_errors_total with a log line, the events are kept
// in memory, and the store file stays whole. Stopped while still full, the
// sidecar says what it could not flush and exits 1; restarted on the full
// disk, it starts and serves; restarted without the limit, its store opens
// with everything stored before. Full again, then
// the limit lifted while it runs: the kept events are flushed, and after
// SIGTERM the store counts every request answered, exactly.
func TestDiskFullKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs RLIMIT_FSIZE and prlimit(1)")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit(1)")
	}
	_, base := startSim(t, sim.Options{})
	dir := t.TempDir()
	before := fillStore(t, base, dir, 300*time.Millisecond)

	// Full, then stopped while full.
	c := limitedChild(t, base, dir, 32<<10)
	answered := sendRequests(t, c, 600)
	waitFor(t, "a failed flush", func() bool { return childMetric(t, c, "infermeter_store_flush_errors_total") > 0 })
	if !strings.Contains(c.output(), "meter: cannot flush") || !strings.Contains(c.output(), "file too large") {
		t.Fatalf("no log line says the flush failed:\n%s", c.output())
	}
	// The file stays a readable store (a copy: the running sidecar keeps it).
	snap := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snap, store.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	during := storedRequests(t, snap)
	if during < before {
		t.Fatalf("while full, the store counts %d requests, %d before", during, before)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = c.wait()
	if c.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(c.output(), "infermeter: cannot flush") || !strings.Contains(c.output(), "cells at close") {
		t.Fatalf("stopped while full: %v\n%s", err, c.output())
	}
	after := storedRequests(t, dir)
	t.Logf("full, stopped: %d requests answered; stored %d before, %d while full, %d after (%d lost: they were only in memory)",
		answered, before, during, after, before+answered-after)
	if after < during || after > before+answered {
		t.Fatalf("after a stop while full the store counts %d requests (%d before, %d while full, %d answered)", after, before, during, answered)
	}

	// Restarted on the disk still full: it starts (opening the store
	// writes nothing when its journal is applied), answers, and keeps what
	// it cannot flush in memory; stopped, it says so and the store is as
	// it was.
	c = limitedChild(t, base, dir, 0)
	sendRequests(t, c, 100)
	waitFor(t, "a failed flush", func() bool { return childMetric(t, c, "infermeter_store_flush_errors_total") > 0 })
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = c.wait()
	if c.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(c.output(), "cells at close") {
		t.Fatalf("started and stopped while full: %v\n%s", err, c.output())
	}
	if got := storedRequests(t, dir); got != after {
		t.Fatalf("after a start and stop while full the store counts %d requests, want %d", got, after)
	}

	// Full again; the limit lifted while it runs.
	c = limitedChild(t, base, dir, 32<<10)
	answered = sendRequests(t, c, 600)
	waitFor(t, "a failed flush", func() bool { return childMetric(t, c, "infermeter_store_flush_errors_total") > 0 })
	flushed := childMetric(t, c, "infermeter_store_flushed_events_total")
	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(c.cmd.Process.Pid), "--fsize=unlimited:").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %s: %s", err, out)
	}
	waitFor(t, "the kept events to be flushed", func() bool {
		return childMetric(t, c, "infermeter_store_flushed_events_total") >= float64(answered)
	})
	t.Logf("full, then lifted: %d requests answered, %d flushed while full, all %d flushed once lifted (%v flush errors)",
		answered, int64(flushed), answered, childMetric(t, c, "infermeter_store_flush_errors_total"))
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.wait(); err != nil {
		t.Fatalf("the sidecar did not stop cleanly once the limit was lifted: %s\n%s", err, c.output())
	}
	if got := storedRequests(t, dir); got != after+answered {
		t.Fatalf("the store counts %d requests, want %d + %d", got, after, answered)
	}
}
