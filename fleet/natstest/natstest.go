// Package natstest runs a real nats-server with JetStream on a loopback
// port for tests (the fleet package's and the root package's), which a
// test can stop and start again on the same port and store.
package natstest

import (
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Server is a nats-server process with JetStream on a loopback port,
// which a test can stop and start again on the same port and store.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	// URL is the client URL, nats://127.0.0.1:<port>.
	URL string
}

// Start starts nats-server -js; the test fails when it is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatal("nats-server is not installed: the fleet tests need a real NATS server with JetStream " +
			"(apt-get install nats-server; .ci/run installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	n := &Server{t: t, bin: bin, port: port, dir: t.TempDir(), URL: "nats://127.0.0.1:" + strconv.Itoa(port)}
	n.Restart()
	t.Cleanup(n.Stop)
	return n
}

// Restart starts the server (again) and waits until it accepts connections.
func (n *Server) Restart() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-sd", n.dir)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("cannot start nats-server: %s", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(n.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("nats-server did not listen on port %d", n.port)
}

// Stop stops the server gracefully and waits for it to exit.
func (n *Server) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}
