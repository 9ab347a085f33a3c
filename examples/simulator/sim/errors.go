package sim

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// writeError answers with status and an error body in the request's
// dialect. msg overrides the dialect's usual message for that status.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, p *params, status int, msg string) {
	if p.id == nil {
		p.id = strconv.AppendUint(nil, s.seq.Add(1), 10)
	}
	setDialectHeaders(ctx, p)
	ctx.SetStatusCode(status)
	if status == fasthttp.StatusTooManyRequests {
		// Real providers send retry hints; keep SDK retries fast.
		ctx.Response.Header.Set("Retry-After-Ms", "10")
		ctx.Response.Header.Set("Retry-After", "0")
	}
	bp := s.getBuf()
	b := (*bp)[:0]
	switch p.dialect {
	case dAnthropic:
		b = appendAnthropicError(b, p, status, msg)
		ctx.SetContentType("application/json")
	case dGemini:
		b = appendGeminiError(b, p, status, msg)
		ctx.SetContentType("application/json; charset=UTF-8")
	default:
		b = appendOpenAIError(b, p, status, msg)
		ctx.SetContentType("application/json")
	}
	ctx.SetBody(b)
	*bp = b
	s.putBuf(bp)
}

// appendOpenAIError appends {"error":{"message","type","param","code"}}.
func appendOpenAIError(b []byte, p *params, status int, msg string) []byte {
	typ, code := "invalid_request_error", "null"
	var m []byte
	switch status {
	case 400:
		m = []byte("Invalid request.")
	case 401:
		m = []byte("Incorrect API key provided: sk-sim***. You can find your API key at https://platform.openai.com/account/api-keys.")
		code = `"invalid_api_key"`
	case 403:
		m = []byte("Country, region, or territory not supported")
		typ, code = "request_forbidden", `"unsupported_country_region_territory"`
	case 404:
		m = append(append([]byte("The model `"), p.model...), "` does not exist or you do not have access to it."...)
		code = `"model_not_found"`
	case 429:
		m = append(append([]byte("Rate limit reached for "), p.model...), " in organization org-sim on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more."...)
		typ, code = "requests", `"rate_limit_exceeded"`
	case 503:
		m = []byte("Our servers are experiencing high traffic. Please try again later.")
		typ = "server_error"
	default:
		if status >= 500 {
			m = []byte("The server had an error while processing your request. Sorry about that!")
			typ = "server_error"
		} else {
			m = []byte(fasthttp.StatusMessage(status))
		}
	}
	if msg != "" {
		m = []byte(msg)
	}
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, m)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, `","param":null,"code":`...)
	b = append(b, code...)
	return append(b, "}}"...)
}

// appendAnthropicError appends {"type":"error","error":{"type","message"},"request_id"}.
func appendAnthropicError(b []byte, p *params, status int, msg string) []byte {
	var typ string
	var m []byte
	switch status {
	case 400:
		typ, m = "invalid_request_error", []byte("Invalid request.")
	case 401:
		typ, m = "authentication_error", []byte("invalid x-api-key")
	case 403:
		typ, m = "permission_error", []byte("Your API key does not have permission to use the specified resource.")
	case 404:
		typ, m = "not_found_error", append([]byte("model: "), p.model...)
	case 413:
		typ, m = "request_too_large", []byte("Request exceeds the maximum allowed number of bytes.")
	case 429:
		typ, m = "rate_limit_error", []byte("This request would exceed the rate limit for your organization (sim-org) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.")
	case 529:
		typ, m = "overloaded_error", []byte("Overloaded")
	default:
		if status >= 500 {
			typ, m = "api_error", []byte("Internal server error")
		} else {
			typ, m = "invalid_request_error", []byte(fasthttp.StatusMessage(status))
		}
	}
	if msg != "" {
		m = []byte(msg)
	}
	b = append(b, `{"type":"error","error":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","message":`...)
	b = appendString(b, m)
	b = append(b, `},"request_id":"req_sim`...)
	b = append(b, p.id...)
	return append(b, `"}`...)
}

// appendGeminiError appends {"error":{"code","message","status"[,"details"]}}.
func appendGeminiError(b []byte, p *params, status int, msg string) []byte {
	var st string
	var m []byte
	details := ""
	switch status {
	case 400:
		st, m = "INVALID_ARGUMENT", []byte("Request contains an invalid argument.")
	case 401:
		st, m = "UNAUTHENTICATED", []byte("API key not valid. Please pass a valid API key.")
	case 403:
		st, m = "PERMISSION_DENIED", []byte("Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
	case 404:
		st, m = "NOT_FOUND", append(append([]byte("models/"), p.model...), " is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."...)
	case 429:
		st, m = "RESOURCE_EXHAUSTED", []byte("You exceeded your current quota, please check your plan and billing details.")
		details = `,"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.01s"}]`
	case 500:
		st, m = "INTERNAL", []byte("An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
	case 503, 529:
		st, m = "UNAVAILABLE", []byte("The model is overloaded. Please try again later.")
	case 504:
		st, m = "DEADLINE_EXCEEDED", []byte("Deadline expired before operation could complete.")
	default:
		if status >= 500 {
			st, m = "INTERNAL", []byte("Internal error encountered.")
		} else {
			st, m = "FAILED_PRECONDITION", []byte(fasthttp.StatusMessage(status))
		}
	}
	if msg != "" {
		m = []byte(msg)
	}
	b = append(b, `{"error":{"code":`...)
	b = appendInt(b, int64(status))
	b = append(b, `,"message":`...)
	b = appendString(b, m)
	b = append(b, `,"status":"`...)
	b = append(b, st...)
	b = append(b, '"')
	b = append(b, details...)
	return append(b, "}}"...)
}
