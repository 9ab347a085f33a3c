package proxy

import (
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
)

// setProviderRequestID copies the provider's request id out of the response
// headers into the event: x-request-id (OpenAI and most OpenAI-compatible
// providers), else request-id (Anthropic). Gemini documents none. The id is
// cut at meter.MaxProviderRequestID bytes.
func (s *reqState) setProviderRequestID(h *fasthttp.ResponseHeader) {
	v := h.Peek("X-Request-Id")
	if len(v) == 0 {
		v = h.Peek("Request-Id")
	}
	if len(v) == 0 {
		return
	}
	if len(v) > meter.MaxProviderRequestID {
		v = v[:meter.MaxProviderRequestID]
	}
	s.ev.ProviderRequestID = s.ids.string(v)
}

// idSlabSize is the size of one idSlab chunk: about a hundred request ids.
const idSlabSize = 4 << 10

// idSlab makes strings of short, per-request values without an allocation
// each: it copies them into a chunk and hands out strings that point into it,
// allocating a new chunk only when the current one is full (one allocation
// per about a hundred requests). Bytes of a chunk are written once and never
// changed, so the strings are immutable; a chunk is freed once none of its
// strings is referenced. Not safe for concurrent use: each reqState has its
// own.
type idSlab struct {
	b []byte
}

// string returns a string holding a copy of v.
func (a *idSlab) string(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if cap(a.b)-len(a.b) < len(v) {
		a.b = make([]byte, 0, max(idSlabSize, len(v)))
	}
	n := len(a.b)
	a.b = append(a.b, v...)
	return unsafe.String(&a.b[n], len(v))
}
