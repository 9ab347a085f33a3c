package proxy

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/proxy/dialect"
)

// writeError answers with the proxy's own error, in the provider's error
// shape so the client's SDK raises its usual exception:
// openai {"error":{"message","type","param","code"}},
// anthropic {"type":"error","error":{"type","message"}},
// gemini {"error":{"code","message","status"}}.
func writeError(ctx *fasthttp.RequestCtx, d dialect.Dialect, status int, et usage.ErrorType, msg string) {
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	resp.Header.Set("X-Infermeter-Error", et.String())
	b := &jsonBuf{B: make([]byte, 0, 160+len(msg))}
	switch d {
	case dialect.Anthropic:
		b.WriteString(`{"type":"error","error":{"type":`)
		b.B = strconv.AppendQuote(b.B, anthropicType(status, et))
		b.WriteString(`,"message":`)
		b.B = appendJSONString(b.B, msg)
		b.WriteString(`}}`)
	case dialect.Gemini:
		b.WriteString(`{"error":{"code":`)
		b.B = strconv.AppendInt(b.B, int64(status), 10)
		b.WriteString(`,"message":`)
		b.B = appendJSONString(b.B, msg)
		b.WriteString(`,"status":`)
		b.B = strconv.AppendQuote(b.B, geminiStatus(status))
		b.WriteString(`}}`)
	default:
		b.WriteString(`{"error":{"message":`)
		b.B = appendJSONString(b.B, msg)
		b.WriteString(`,"type":`)
		b.B = strconv.AppendQuote(b.B, openAIType(status, et))
		b.WriteString(`,"param":null,"code":`)
		b.B = strconv.AppendQuote(b.B, openAICode(status, et))
		b.WriteString(`}}`)
	}
	resp.SetBodyRaw(b.B)
}

// jsonBuf is a byte slice with WriteString, for writeError.
type jsonBuf struct{ B []byte }

func (b *jsonBuf) WriteString(s string) { b.B = append(b.B, s...) }

func openAIType(status int, et usage.ErrorType) string {
	switch {
	case et == usage.ErrBudgetExceeded:
		return "insufficient_quota"
	case status == 401:
		return "invalid_request_error"
	case status == 429:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

func openAICode(status int, et usage.ErrorType) string {
	switch {
	case et == usage.ErrBudgetExceeded:
		return "budget_exceeded"
	case status == 401:
		return "invalid_api_key"
	case status == 404:
		return "not_found"
	case status == 413:
		return "request_too_large"
	case status == 502:
		return "upstream_unreachable"
	case status == 504:
		return "upstream_timeout"
	}
	return et.String()
}

func anthropicType(status int, et usage.ErrorType) string {
	switch {
	case et == usage.ErrBudgetExceeded:
		return "rate_limit_error"
	case status == 401:
		return "authentication_error"
	case status == 404:
		return "not_found_error"
	case status == 413:
		return "request_too_large"
	case status == 429:
		return "rate_limit_error"
	case status == 504:
		return "timeout_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

func geminiStatus(status int) string {
	switch status {
	case 401:
		return "UNAUTHENTICATED"
	case 404:
		return "NOT_FOUND"
	case 413, 400:
		return "INVALID_ARGUMENT"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 504:
		return "DEADLINE_EXCEEDED"
	case 502, 503:
		return "UNAVAILABLE"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// throttle refuses a request from an address that failed to authenticate
// too often: 429 in the provider's shape with Retry-After (whole seconds,
// rounded up). Nothing is forwarded or metered: the caller is not known.
func (p *Proxy) throttle(ctx *fasthttp.RequestCtx, up *upstream, wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	writeError(ctx, up.dialect, fasthttp.StatusTooManyRequests, usage.ErrRateLimit,
		"too many failed authentications from this address: retry in "+strconv.FormatInt(secs, 10)+" s")
	ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
}

// errorHandler answers requests fasthttp refused before the handler: a body
// over max_request_bytes (413), headers too large, or a malformed request.
// A body too large from a known member is metered as invalid_request.
func (p *Proxy) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	status, msg := fasthttp.StatusBadRequest, "malformed request: "+err.Error()
	var small *fasthttp.ErrSmallBuffer
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		status = fasthttp.StatusRequestEntityTooLarge
		msg = "request body exceeds max_request_bytes (" + strconv.Itoa(p.opt.MaxRequestBytes) + " bytes)"
	} else if errors.As(err, &small) {
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
		msg = "request headers exceed max_header_bytes"
	}
	up, rest := p.route(ctx.Request.URI().PathOriginal())
	d := dialect.OpenAI
	if up != nil {
		d = up.dialect
		if status == fasthttp.StatusRequestEntityTooLarge {
			if m, ok := p.authenticate(ctx, up); ok {
				s := p.getState()
				s.up, s.member, s.start = up, m, p.now()
				s.begin(ctx, rest)
				s.ev.Status = status
				s.fail(usage.ErrInvalidRequest, msg)
				s.record()
				p.putState(s)
			}
		}
	}
	p.m.refused.Inc()
	writeError(ctx, d, status, usage.ErrInvalidRequest, msg)
}
