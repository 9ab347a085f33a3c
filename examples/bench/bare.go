package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// bareProxy is the baseline hop: a fasthttp reverse proxy with no auth, no
// routing and no metering, forwarding the way infermeter does. A request
// whose body asks for a stream is answered from the upstream body stream
// (each upstream read is written and flushed to the client); any other is
// read whole, then written.
type bareProxy struct {
	hc     *fasthttp.HostClient
	bodies sync.Pool // *bareBody
}

func newBareProxy(upstreamAddr string) *bareProxy {
	return &bareProxy{hc: &fasthttp.HostClient{
		Addr:                     upstreamAddr,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 4096,
		ReadTimeout:              30 * time.Second,
		WriteTimeout:             30 * time.Second,
		DisablePathNormalizing:   true,
	}}
}

// server returns the fasthttp server of the proxy.
func (bp *bareProxy) server() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               bp.handle,
		Name:                  "bare",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
	}
}

var streamTrue = []byte(`"stream":true`)

func (bp *bareProxy) handle(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	req.Header.Del("Connection")
	if !bytes.Contains(req.Body(), streamTrue) {
		if err := bp.hc.Do(req, &ctx.Response); err != nil {
			ctx.Response.Reset()
			ctx.Error("upstream unreachable", fasthttp.StatusBadGateway)
		}
		return
	}
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = true
	if err := bp.hc.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		ctx.Error("upstream unreachable", fasthttp.StatusBadGateway)
		return
	}
	resp.Header.CopyTo(&ctx.Response.Header)
	b, _ := bp.bodies.Get().(*bareBody)
	if b == nil {
		b = &bareBody{bp: bp}
	}
	b.resp, b.r = resp, resp.BodyStream()
	if b.r == nil {
		b.r = bytes.NewReader(nil)
	}
	ctx.Response.SetBodyStream(b, -1)
}

// bareBody hands the upstream body stream to fasthttp's response writer and
// releases the upstream response when the server closes it.
type bareBody struct {
	bp   *bareProxy
	resp *fasthttp.Response
	r    io.Reader
}

func (b *bareBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *bareBody) Close() error {
	_ = b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	b.resp, b.r = nil, nil
	b.bp.bodies.Put(b)
	return nil
}

// serveBareFlag makes the bench binary serve only the bare proxy, in a
// process of its own: `bench -serve-bare UPSTREAM` prints its loopback
// address on stdout and serves until its stdin closes (so it never outlives
// the harness).
const serveBareFlag = "-serve-bare"

// serveBareMain is the main of a bare-proxy process.
func serveBareMain(upstream string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("cannot listen on loopback: %w", err)
	}
	s := newBareProxy(upstream).server()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = s.Shutdown()
	}()
	fmt.Println(ln.Addr().String())
	return s.Serve(ln)
}

// bareProcess is a bare proxy running in a child process.
type bareProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startBareProcess starts this program as a bare proxy to upstream.
func startBareProcess(upstream string) (*bareProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the bench binary: %w", err)
	}
	bp := &bareProcess{cmd: exec.Command(self, serveBareFlag, upstream)}
	bp.cmd.Stderr = os.Stderr
	if bp.stdin, err = bp.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("cannot start the bare proxy process: %w", err)
	}
	out, err := bp.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("cannot start the bare proxy process: %w", err)
	}
	if err := bp.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the bare proxy process: %w", err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr, ok := <-line:
		if !ok || addr == "" {
			bp.stop()
			return nil, errors.New("cannot start the bare proxy process: it printed no address")
		}
		bp.addr = addr
	case <-time.After(30 * time.Second):
		bp.stop()
		return nil, errors.New("cannot start the bare proxy process: no address after 30s")
	}
	return bp, nil
}

// stop closes the child's stdin and waits for it (at most 10s, then kill).
func (bp *bareProcess) stop() {
	_ = bp.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = bp.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = bp.cmd.Process.Kill()
		<-done
	}
}
