package main

import (
	"bytes"
	"io"
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
