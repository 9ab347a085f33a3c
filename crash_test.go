package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/store"
)

// fillStore runs the binary under load on dataDir for a moment, stops it
// with SIGTERM and returns the number of requests stored.
func fillStore(t *testing.T, base, dataDir string, d time.Duration) int64 {
	t.Helper()
	c := startChild(t, base, dataDir, 100*time.Millisecond)
	stop := make(chan struct{})
	wait := load(c.proxy, 4, stop)
	time.Sleep(d)
	close(stop)
	wait()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.wait(); err != nil {
		t.Fatalf("the sidecar did not stop cleanly: %s\n%s", err, c.output())
	}
	return storedRequests(t, dataDir)
}

// TestCrashTruncatedStoreStartsDamagedStoreRefused starts the binary on store
// files damaged after the fact. Truncated (a torn last write, or a file
// cut at a random point of its second half): the sidecar starts, and the
// store then holds no more than before, logs and cells agreeing; cut by
// one byte, it holds everything (the journal completes the last batch).
// A length changed in the middle: the sidecar refuses to start, exit
// status 1, with one line naming the file and the byte where it stops
// being readable, and leaves the file as it was.
func TestCrashTruncatedStoreStartsDamagedStoreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	_, base := startSim(t, sim.Options{Gap: time.Millisecond})
	src := t.TempDir()
	n := fillStore(t, base, src, 600*time.Millisecond)
	full, err := os.ReadFile(filepath.Join(src, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 4))
	for _, cut := range []int{len(full) - 1, len(full)/2 + rng.IntN(len(full)/2)} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, store.FileName), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		c := startChild(t, base, dir, 100*time.Millisecond)
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := c.wait(); err != nil {
			t.Fatalf("cut at %d of %d: the sidecar did not stop cleanly: %s\n%s", cut, len(full), err, c.output())
		}
		got := storedRequests(t, dir)
		t.Logf("seed %d: cut at %d of %d bytes: %d of %d requests kept", seed, cut, len(full), got, n)
		if got > n || (cut == len(full)-1 && got != n) {
			t.Fatalf("seed %d: cut at %d of %d: the store holds %d requests, had %d", seed, cut, len(full), got, n)
		}
	}

	// A length in the middle made huge: buntdb alone would drop everything
	// after it as a torn tail.
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	i := len(full)/2 + strings.Index(string(full[len(full)/2:]), "\r\n$") + 3
	damaged := slices.Concat(full[:i], []byte("9999999"), full[i:])
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newChild(t, base, dir, 100*time.Millisecond)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-exited
		t.Fatalf("the sidecar started on a damaged store\n%s", c.output())
	}
	out := c.output()
	at := int64(strings.LastIndex(string(damaged[:i]), "*3\r\n"))
	want := fmt.Sprintf("infermeter: cannot open store %q: corrupt store: ", path)
	if c.cmd.ProcessState.ExitCode() != 1 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, want) ||
		!strings.Contains(out, fmt.Sprintf("at byte %d of %d", at, len(damaged))) {
		t.Fatalf("on a damaged store the sidecar exited with %v and said\n%s\nwant one line starting %q naming byte %d", werr, out, want, at)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, damaged) {
		t.Fatal("a refused store file was changed")
	}
	t.Logf("refused: %s", strings.TrimSpace(out))
}
