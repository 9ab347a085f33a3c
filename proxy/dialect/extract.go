package dialect

import (
	"bytes"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter/usage"
)

// MaxErrorMessage is the longest error message kept, in bytes; longer
// messages are cut at a UTF-8 boundary.
const MaxErrorMessage = 512

// ErrorInfo classifies a failed request.
type ErrorInfo struct {
	// Type is usage.ErrNone when the request succeeded.
	Type usage.ErrorType
	// Message is the provider's message, at most MaxErrorMessage bytes. It
	// aliases the body passed to ExtractBody (or the StreamState's own
	// buffer, valid until its next Reset); when the JSON string had escapes
	// it is a fresh copy. Callers that keep it must copy it.
	Message []byte
}

// ExtractBody reads a whole non-streamed response body of dialect d and
// endpoint category cat. It overwrites u with the usage found (u.Source is
// usage.SourceProvider when the provider reported usage; otherwise u is left
// as it was) and returns the error classification: non-2xx statuses are
// errors, and so is a 2xx body that is a provider error object. A body that
// is not JSON (an HTML 502 page) classifies by status with a short message.
// It reads an object body in one validating walk over its top-level members
// and one walk over its usage object. It does not allocate for bodies
// without escaped error messages and is safe for concurrent use on distinct
// arguments.
func ExtractBody(d Dialect, cat usage.Category, status int, body []byte, u *usage.Usage) ErrorInfo {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return notJSON(status, t)
	}
	if t[0] == '[' {
		if !gjson.Valid(bstr(t)) {
			return notJSON(status, t)
		}
		if d != Gemini {
			// No usage in a top-level array; classify by status.
			return bodyError(d, status, t, &topFields{})
		}
		// A streamGenerateContent JSON array read whole.
		var st StreamState
		st.Reset(Gemini, cat)
		var as ArrayScanner
		as.Feed(t, func(elem []byte) { st.OnEvent(nil, elem) })
		ei := st.Result(u)
		if ei.Type == usage.ErrNone && status >= 400 {
			ei.Type = usage.ErrorFromStatus(status)
		}
		return ei
	}
	var f topFields
	it := walkStrict(bstr(t))
	for it.next() {
		switch it.key {
		case "usage":
			first(&f.usage, it.val)
		case "usageMetadata":
			first(&f.usageMeta, it.val)
		case "service_tier":
			first(&f.tier, it.val)
		case "error":
			first(&f.err, it.val)
		case "type":
			first(&f.typ, it.val)
		case "message":
			first(&f.message, it.val)
		}
	}
	if !it.valid() {
		return notJSON(status, t)
	}
	switch d {
	case Anthropic:
		var a anthropicUsage
		a.merge(f.usage)
		a.fill(u)
	case Gemini:
		if !readGeminiUsage(u, f.usageMeta) {
			readOpenAIUsage(u, f.usage, cat) // Gemini's OpenAI endpoint
		}
	default:
		if isString(f.tier) {
			u.Tier = usage.ParseTier(s2b(strVal(f.tier)))
		}
		readOpenAIUsage(u, f.usage, cat)
	}
	return bodyError(d, status, t, &f)
}

// topFields are the raw values of the top-level members of a response body
// that ExtractBody reads ("" when absent).
type topFields struct {
	usage, usageMeta, tier, err, typ, message string
}

// notJSON classifies a body that is not JSON by its status.
func notJSON(status int, t []byte) ErrorInfo {
	if status >= 200 && status < 400 {
		return ErrorInfo{}
	}
	return ErrorInfo{Type: nonZero(usage.ErrorFromStatus(status)), Message: textMessage(t)}
}

// bodyError classifies the error object of the JSON body t, if any, from
// its top-level members f.
func bodyError(d Dialect, status int, t []byte, f *topFields) ErrorInfo {
	isErr := status >= 400 || isObject(f.err) || (d == Anthropic && strVal(f.typ) == "error")
	if !isErr {
		return ErrorInfo{}
	}
	if !isObject(f.err) {
		// Bedrock-style {"message": ...} or an unknown JSON body.
		var msg []byte
		if isString(f.message) {
			msg = rawStrBytes(t, f.message)
		} else if isString(f.err) {
			msg = rawStrBytes(t, f.err)
		} else {
			msg = t
		}
		return ErrorInfo{Type: nonZero(usage.ErrorFromStatus(status)), Message: truncate(msg)}
	}
	return errorObject(d, status, t, f.err)
}

// errorObject classifies a provider error object, the raw value e (of
// "error", or a whole event), in one walk over it; doc is the document e
// lies in.
func errorObject(d Dialect, status int, doc []byte, e string) ErrorInfo {
	var msgV, codeV, typV, statusV string
	if isObject(e) {
		for it := walk(e); it.next(); {
			switch it.key {
			case "message":
				first(&msgV, it.val)
			case "code":
				first(&codeV, it.val)
			case "type":
				first(&typV, it.val)
			case "status":
				first(&statusV, it.val)
			}
		}
	}
	msg := truncate(rawStrBytes(doc, msgV))
	typ := strVal(typV)
	var et usage.ErrorType
	switch d {
	case Anthropic:
		et = anthropicErrorType(typ)
	case Gemini:
		et = geminiErrorType(strVal(statusV))
	}
	if et == usage.ErrNone && isString(codeV) {
		et = openAICodeType(strVal(codeV))
	}
	if et == usage.ErrNone && isNumber(codeV) {
		// OpenRouter and Gemini put the HTTP status in code.
		et = usage.ErrorFromStatus(int(gjson.Parse(codeV).Int()))
	}
	if et == usage.ErrNone && status >= 400 {
		et = usage.ErrorFromStatus(status)
	}
	if et == usage.ErrNone {
		et = openAICodeType(typ)
	}
	return ErrorInfo{Type: nonZero(et), Message: msg}
}

// openAICodeType maps OpenAI error codes and types. insufficient_quota (HTTP
// 429, billing quota exhausted, retrying does not help) is rate_limit like
// every other 429.
func openAICodeType(c string) usage.ErrorType {
	switch c {
	case "insufficient_quota", "rate_limit_exceeded", "rate_limit_error", "tokens", "requests", "billing_error":
		return usage.ErrRateLimit
	case "invalid_api_key", "authentication_error", "permission_error", "invalid_authentication", "unauthorized", "permission_denied":
		return usage.ErrAuth
	case "invalid_request_error", "invalid_prompt", "model_not_found", "context_length_exceeded", "unsupported_parameter",
		"unsupported_value", "invalid_value", "empty_array", "not_found_error", "missing_required_parameter":
		return usage.ErrInvalidRequest
	case "server_error", "api_error", "internal_error", "service_unavailable", "overloaded_error", "engine_overloaded":
		return usage.ErrModel
	case "timeout", "timeout_error", "request_timeout":
		return usage.ErrTimeout
	}
	return usage.ErrNone
}

// anthropicErrorType maps Anthropic error.type values.
func anthropicErrorType(t string) usage.ErrorType {
	switch t {
	case "rate_limit_error":
		return usage.ErrRateLimit
	case "overloaded_error", "api_error":
		return usage.ErrModel
	case "authentication_error", "permission_error":
		return usage.ErrAuth
	case "invalid_request_error", "not_found_error", "request_too_large":
		return usage.ErrInvalidRequest
	case "timeout_error":
		return usage.ErrTimeout
	case "billing_error":
		// Like OpenAI's insufficient_quota: the account cannot be served.
		return usage.ErrRateLimit
	}
	return usage.ErrNone
}

// geminiErrorType maps google.rpc status names.
func geminiErrorType(st string) usage.ErrorType {
	switch st {
	case "RESOURCE_EXHAUSTED":
		return usage.ErrRateLimit
	case "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "OUT_OF_RANGE", "ALREADY_EXISTS", "ABORTED":
		return usage.ErrInvalidRequest
	case "UNAUTHENTICATED", "PERMISSION_DENIED":
		return usage.ErrAuth
	case "DEADLINE_EXCEEDED":
		return usage.ErrTimeout
	case "INTERNAL", "UNAVAILABLE", "UNKNOWN", "DATA_LOSS", "UNIMPLEMENTED":
		return usage.ErrModel
	}
	return usage.ErrNone
}

// nonZero turns "no classification" into ErrOther for something known to be
// an error.
func nonZero(t usage.ErrorType) usage.ErrorType {
	if t == usage.ErrNone {
		return usage.ErrOther
	}
	return t
}

// truncate cuts b to MaxErrorMessage bytes at a UTF-8 boundary.
func truncate(b []byte) []byte {
	if len(b) <= MaxErrorMessage {
		return b
	}
	n := MaxErrorMessage
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// textMessage gives a short message for a non-JSON body: the HTML title when
// there is one, else the first line, at most 128 bytes.
func textMessage(b []byte) []byte {
	if i := bytes.Index(b, []byte("<title>")); i >= 0 {
		rest := b[i+len("<title>"):]
		if j := bytes.Index(rest, []byte("</title>")); j >= 0 {
			b = rest[:j]
		}
	}
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	const max = 128
	if len(b) > max {
		n := max
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b = b[:n]
	}
	if len(b) == 0 {
		return nil
	}
	return b
}
