// Package dialect knows the wire formats of the three provider dialects the
// proxy speaks: openai (also every OpenAI-compatible provider: Azure,
// DeepSeek, Mistral, Groq, OpenRouter, xAI, Gemini's OpenAI endpoint),
// anthropic and gemini. It reads the request facts the proxy needs (model,
// stream flag, usage injection), splits streamed responses into events, and
// turns provider usage and error payloads into the normalised usage.Usage and
// the closed usage.ErrorType vocabulary.
//
// Hot-path promise: everything called per request or per stream event works
// on caller-owned byte slices, fills caller-owned structs and reuses internal
// buffers across Reset, so it does not allocate in steady state. Nothing here
// panics on input; malformed payloads yield "not reported" counts.
//
// Normalisation: Input counts every prompt token processed and CacheRead,
// CacheWrite, InputAudio and InputImage are parts of it; Output counts every
// generated token and Reasoning, OutputAudio and OutputImage are parts of it.
// A count the provider did not send stays usage.Count{} (not reported).
package dialect

// Dialect is a provider wire format.
type Dialect uint8

// Dialects.
const (
	// OpenAI is the OpenAI API and every OpenAI-compatible provider.
	OpenAI Dialect = iota
	// Anthropic is the Anthropic Messages API.
	Anthropic
	// Gemini is the Google Gemini (generativelanguage / Vertex) API.
	Gemini
)

var dialectNames = [...]string{"openai", "anthropic", "gemini"}

// String returns the dialect name used in configuration.
func (d Dialect) String() string {
	if int(d) < len(dialectNames) {
		return dialectNames[d]
	}
	return "openai"
}

// ParseDialect is the inverse of Dialect.String.
func ParseDialect(s string) (Dialect, bool) {
	for i, n := range dialectNames {
		if n == s {
			return Dialect(i), true
		}
	}
	return OpenAI, false
}
