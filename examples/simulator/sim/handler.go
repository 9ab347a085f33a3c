package sim

import (
	"bytes"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

type dialect uint8

const (
	dOpenAI dialect = iota
	dAnthropic
	dGemini
)

type endpoint uint8

const (
	epNone endpoint = iota
	epChat
	epCompletions
	epResponses
	epEmbeddings
	epModels
	epMessages
	epGenerate
	epStreamGenerate
)

type encoding uint8

const (
	encNone encoding = iota
	encGzip
	encBrotli
	encZstd
)

// params is everything a response needs, copied out of the request so that
// a stream goroutine can use it after the handler returns.
type params struct {
	dialect  dialect
	endpoint endpoint

	in, out, cached, cacheWrite, reasoning int64

	chunks, cut int
	ttft, gap   time.Duration
	latency     time.Duration

	status, html int
	streamErr    bool
	noUsage      bool
	invalidJSON  bool
	hang         bool
	enc          encoding

	stream       bool
	includeUsage bool
	sse          bool // Gemini alt=sse
	base64       bool // embeddings encoding_format=base64
	inputs       int  // embeddings inputs

	model   []byte
	id      []byte
	created int64
}

// route maps method and path to a dialect and an endpoint; for Gemini it
// also returns the model from the path.
func route(method, path []byte) (dialect, endpoint, []byte) {
	post := string(method) == fasthttp.MethodPost
	switch string(path) {
	case "/v1/chat/completions":
		if post {
			return dOpenAI, epChat, nil
		}
	case "/v1/completions":
		if post {
			return dOpenAI, epCompletions, nil
		}
	case "/v1/responses":
		if post {
			return dOpenAI, epResponses, nil
		}
	case "/v1/embeddings":
		if post {
			return dOpenAI, epEmbeddings, nil
		}
	case "/v1/models":
		if string(method) == fasthttp.MethodGet {
			return dOpenAI, epModels, nil
		}
	case "/v1/messages":
		if post {
			return dAnthropic, epMessages, nil
		}
		return dAnthropic, epNone, nil
	}
	for _, prefix := range [...]string{"/v1beta/models/", "/v1/models/"} {
		if !bytes.HasPrefix(path, []byte(prefix)) {
			continue
		}
		rest := path[len(prefix):]
		i := bytes.LastIndexByte(rest, ':')
		if i <= 0 {
			break
		}
		model, action := rest[:i], string(rest[i+1:])
		if !post {
			return dGemini, epNone, model
		}
		switch action {
		case "generateContent":
			return dGemini, epGenerate, model
		case "streamGenerateContent":
			return dGemini, epStreamGenerate, model
		}
		return dGemini, epNone, model
	}
	switch {
	case bytes.HasPrefix(path, []byte("/v1beta/")):
		return dGemini, epNone, nil
	case bytes.HasPrefix(path, []byte("/v1/messages")):
		return dAnthropic, epNone, nil
	}
	return dOpenAI, epNone, nil
}

// Handler serves one simulated provider request. It is safe for concurrent
// use; it keeps nothing of ctx after it returns (streams run from copies).
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	s.count.Add(1)
	s.record(ctx)

	var p params
	var gemModel []byte
	p.dialect, p.endpoint, gemModel = route(ctx.Method(), ctx.Path())
	if p.endpoint == epNone {
		msg := "Invalid URL (" + string(ctx.Method()) + " " + string(ctx.Path()) + ")"
		s.writeError(ctx, &p, fasthttp.StatusNotFound, msg)
		return
	}
	if msg := s.parseHeaders(ctx, &p); msg != "" {
		s.writeError(ctx, &p, fasthttp.StatusBadRequest, msg)
		return
	}
	s.parseBody(ctx, &p, gemModel)

	if p.html != 0 {
		s.sleep(p.latency)
		writeHTML(ctx, p.html)
		return
	}
	if p.status != 0 {
		s.sleep(p.latency)
		s.writeError(ctx, &p, p.status, "")
		return
	}
	if p.hang {
		s.startHang(ctx, &p)
		return
	}
	if st := s.injectError(); st != 0 {
		s.sleep(p.latency)
		s.writeError(ctx, &p, st, "")
		return
	}
	if len(p.model) == 0 && p.endpoint != epModels {
		s.writeError(ctx, &p, fasthttp.StatusBadRequest, "you must provide a model parameter")
		return
	}
	if p.invalidJSON {
		s.sleep(p.latency)
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":"sim-broken","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"lorem ipsum`)
		return
	}
	if p.stream {
		s.startStream(ctx, &p)
		return
	}
	s.sleep(p.latency)
	bp := s.getBuf()
	b := (*bp)[:0]
	switch p.endpoint {
	case epChat:
		b = s.appendChat(b, &p)
	case epCompletions:
		b = s.appendCompletion(b, &p)
	case epResponses:
		b = s.appendResponse(b, &p, true)
	case epEmbeddings:
		b = s.appendEmbeddings(b, &p)
	case epModels:
		b = appendModels(b, p.created)
	case epMessages:
		b = s.appendMessage(b, &p)
	case epGenerate:
		b = s.appendGemini(b, &p, p.chunks, p.chunks, true)
	}
	setDialectHeaders(ctx, &p)
	ctx.SetStatusCode(fasthttp.StatusOK)
	if p.dialect == dGemini {
		ctx.SetContentType("application/json; charset=UTF-8")
	} else {
		ctx.SetContentType("application/json")
	}
	s.setBody(ctx, &p, b)
	*bp = b
	s.putBuf(bp)
}

// setBody sets b as the response body, compressed as the request asked.
func (s *Server) setBody(ctx *fasthttp.RequestCtx, p *params, b []byte) {
	if p.enc == encNone {
		ctx.SetBody(b)
		return
	}
	zp := s.getBuf()
	z := (*zp)[:0]
	switch p.enc {
	case encGzip:
		z = fasthttp.AppendGzipBytesLevel(z, b, fasthttp.CompressBestSpeed)
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "gzip")
	case encBrotli:
		z = fasthttp.AppendBrotliBytesLevel(z, b, fasthttp.CompressBrotliBestSpeed)
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "br")
	case encZstd:
		z = fasthttp.AppendZstdBytesLevel(z, b, fasthttp.CompressZstdBestSpeed)
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "zstd")
	}
	ctx.SetBody(z)
	*zp = z
	s.putBuf(zp)
}

func setDialectHeaders(ctx *fasthttp.RequestCtx, p *params) {
	h := &ctx.Response.Header
	switch p.dialect {
	case dOpenAI:
		h.SetBytesV("X-Request-Id", append([]byte("req_"), p.id...))
		h.Set("Openai-Version", "2020-10-01")
		h.Set("Openai-Processing-Ms", "1")
	case dAnthropic:
		h.SetBytesV("Request-Id", append([]byte("req_"), p.id...))
		h.Set("Anthropic-Organization-Id", "sim-org")
	case dGemini:
		h.Set("Vary", "Origin, X-Origin, Referer")
	}
}

// parseHeaders reads the X-Sim-* headers into p; it returns a message for
// the first invalid header, or "".
func (s *Server) parseHeaders(ctx *fasthttp.RequestCtx, p *params) string {
	o := &s.opt
	p.in, p.out, p.cached, p.cacheWrite, p.reasoning = o.InputTokens, o.OutputTokens, o.CachedTokens, o.CacheWriteTokens, o.ReasoningTokens
	p.chunks, p.cut = o.Chunks, -1
	p.ttft, p.gap, p.latency = o.TTFT, o.Gap, o.Latency
	p.created = time.Now().Unix()
	p.id = strconv.AppendUint(make([]byte, 0, 24), s.seq.Add(1), 10)

	h := &ctx.Request.Header
	bad := ""
	num := func(name string, dst *int64) {
		v := h.Peek(name)
		if len(v) == 0 || bad != "" {
			return
		}
		n, err := fasthttp.ParseUint(v)
		if err != nil {
			bad = "invalid " + name + " header: want a non-negative integer"
			return
		}
		*dst = int64(n)
	}
	dur := func(name string, dst *time.Duration) {
		v := h.Peek(name)
		if len(v) == 0 || bad != "" {
			return
		}
		d, err := time.ParseDuration(string(v))
		if err != nil || d < 0 {
			bad = "invalid " + name + " header: want a duration like 20ms"
			return
		}
		*dst = d
	}
	flag := func(name string) bool {
		v := h.Peek(name)
		return len(v) > 0 && string(v) != "0" && string(v) != "false"
	}
	num("X-Sim-Input-Tokens", &p.in)
	num("X-Sim-Output-Tokens", &p.out)
	num("X-Sim-Cached-Tokens", &p.cached)
	num("X-Sim-Cache-Write-Tokens", &p.cacheWrite)
	num("X-Sim-Reasoning-Tokens", &p.reasoning)
	var chunks, cut, status, html int64 = int64(p.chunks), -1, 0, 0
	num("X-Sim-Chunks", &chunks)
	num("X-Sim-Cut", &cut)
	num("X-Sim-Status", &status)
	num("X-Sim-HTML", &html)
	dur("X-Sim-TTFT", &p.ttft)
	dur("X-Sim-Gap", &p.gap)
	dur("X-Sim-Latency", &p.latency)
	if bad != "" {
		return bad
	}
	if chunks < 1 || chunks > 100000 {
		return "invalid X-Sim-Chunks header: want 1..100000"
	}
	if status != 0 && (status < 400 || status > 599) {
		return "invalid X-Sim-Status header: want 400..599"
	}
	if html != 0 && (html < 400 || html > 599) {
		return "invalid X-Sim-HTML header: want 400..599"
	}
	p.chunks, p.cut, p.status, p.html = int(chunks), int(min(cut, chunks)), int(status), int(html)
	if cut < 0 {
		p.cut = -1
	}
	p.streamErr = flag("X-Sim-Stream-Error")
	p.noUsage = flag("X-Sim-No-Usage")
	p.invalidJSON = flag("X-Sim-Invalid-JSON")
	p.hang = flag("X-Sim-Hang")
	switch string(h.Peek("X-Sim-Encoding")) {
	case "":
	case "gzip":
		p.enc = encGzip
	case "br":
		p.enc = encBrotli
	case "zstd":
		p.enc = encZstd
	default:
		return "invalid X-Sim-Encoding header: want gzip, br or zstd"
	}
	// Keep the parts inside their totals so the normalised usage matches
	// the headers in every dialect.
	p.cached = min(p.cached, p.in)
	p.cacheWrite = min(p.cacheWrite, p.in-p.cached)
	p.reasoning = min(p.reasoning, p.out)
	return ""
}

// parseBody reads model and mode from the request body (or the Gemini path
// and query).
func (s *Server) parseBody(ctx *fasthttp.RequestCtx, p *params, gemModel []byte) {
	body := ctx.Request.Body()
	switch p.dialect {
	case dGemini:
		p.model = append([]byte(nil), gemModel...)
		p.stream = p.endpoint == epStreamGenerate
		p.sse = string(ctx.QueryArgs().Peek("alt")) == "sse"
		return
	}
	if p.endpoint == epModels {
		return
	}
	r := gjson.GetManyBytes(body, "model", "stream", "stream_options.include_usage", "input", "encoding_format")
	if r[0].Type == gjson.String {
		p.model = append([]byte(nil), r[0].Str...)
	}
	p.stream = r[1].Bool() && p.endpoint != epEmbeddings
	p.includeUsage = r[2].Bool()
	if p.endpoint == epEmbeddings {
		p.inputs = 1
		if r[3].IsArray() {
			// An array of strings is several inputs; an array of token
			// ids (numbers) is one.
			arr := r[3].Array()
			if len(arr) > 0 && arr[0].Type != gjson.Number {
				p.inputs = len(arr)
			}
		}
		p.base64 = r[4].Str == "base64"
	}
}

func writeHTML(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html")
	st := strconv.Itoa(status) + " " + fasthttp.StatusMessage(status)
	ctx.SetBodyString("<html>\r\n<head><title>" + st + "</title></head>\r\n<body>\r\n<center><h1>" + st +
		"</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")
}
