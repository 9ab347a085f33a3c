// Package sim is a simulated LLM provider speaking the OpenAI, Anthropic and
// Gemini wire formats on fasthttp. It serves `make demo`, the end-to-end
// tests (through the proxy and through the official SDKs) and the
// benchmarks, so its bodies are complete and shaped like real payloads, and
// it builds them by appending prebuilt fragments into pooled buffers (no
// per-request marshalling). Streams are flushed event by event, so a
// client reads the first event before the last one is written.
//
// # Endpoints
//
//	OpenAI     POST /v1/chat/completions, /v1/completions, /v1/responses,
//	           /v1/embeddings (stream and not, except embeddings); GET /v1/models
//	Anthropic  POST /v1/messages (stream and not)
//	Gemini     POST /v1beta/models/{model}:generateContent,
//	           :streamGenerateContent?alt=sse (SSE, CRLF framing) and
//	           :streamGenerateContent (one JSON array written element by element)
//
// The model in every response echoes the request's (Gemini: modelVersion is
// the model of the path). Unknown routes get a 404 in the dialect's shape;
// a request without a model gets a 400.
//
// # Token counts and the normalised usage they give
//
// Let I, O, C, W, R be the input, output, cached (cache read), cache-write
// and reasoning counts: from the headers X-Sim-Input-Tokens,
// X-Sim-Output-Tokens, X-Sim-Cached-Tokens, X-Sim-Cache-Write-Tokens,
// X-Sim-Reasoning-Tokens, or else from Options (defaults 25, 50, 0, 0, 0).
// They are clamped so that C ≤ I, W ≤ I − C and R ≤ O. The bodies carry:
//
//	OpenAI chat and completions  prompt_tokens=I, completion_tokens=O, total_tokens=I+O,
//	                             prompt_tokens_details.cached_tokens=C, .cache_write_tokens=W,
//	                             completion_tokens_details.reasoning_tokens=R
//	OpenAI Responses             input_tokens=I, input_tokens_details.cached_tokens=C,
//	                             .cache_write_tokens=W, output_tokens=O,
//	                             output_tokens_details.reasoning_tokens=R, total_tokens=I+O
//	OpenAI embeddings            prompt_tokens=I, total_tokens=I (no output)
//	Anthropic                    input_tokens=I−C−W, cache_read_input_tokens=C,
//	                             cache_creation_input_tokens=W (= cache_creation.ephemeral_5m_input_tokens;
//	                             ephemeral_1h_input_tokens=0), output_tokens=O,
//	                             output_tokens_details.thinking_tokens=R (only when R > 0)
//	Gemini                       promptTokenCount=I, cachedContentTokenCount=C (only when C > 0),
//	                             candidatesTokenCount=O−R, thoughtsTokenCount=R (only when R > 0),
//	                             totalTokenCount=I+O; W is not reported (Gemini has no such field)
//
// So in every dialect the normalised usage (input = every prompt token,
// output = every generated token, cached/cache-write/reasoning parts of
// them) is: input I, output O, cached C, reasoning R, and cache-write W
// for OpenAI and Anthropic (Gemini: not reported). Embeddings have input I
// and no output.
//
// Streams: OpenAI chat and completions carry usage only when the request has
// stream_options.include_usage=true: then every chunk has "usage":null and
// one extra chunk with "choices":[] carries the usage above, before
// `data: [DONE]`. Responses streams carry it in response.completed only.
// Anthropic's message_start carries input_tokens=I−C−W, the cache fields and
// a provisional output_tokens=min(1,O); the final message_delta carries the
// cumulative input_tokens, cache fields and output_tokens=O (and thinking
// tokens when R > 0). Gemini chunks each carry cumulative usageMetadata:
// chunk k of N has candidatesTokenCount=(O−R)·k/N (integer division) with
// the prompt, cached and thoughts counts in full; the last chunk has
// finishReason STOP and the totals above.
//
// # Other request headers
//
//	X-Sim-No-Usage: 1        no usage object anywhere, streams included
//	X-Sim-Chunks: N          content chunks in a stream, one word each (default Options.Chunks, 10);
//	                         also the number of words of a non-streamed answer
//	X-Sim-Cut: N             cut the connection after N content chunks: no terminating chunk,
//	                         no usage in any event before (no message_start usage, no
//	                         usageMetadata), no [DONE]
//	X-Sim-Stream-Error: 1    after max(1, N/2) content chunks, in a 200 stream: OpenAI chat and
//	                         completions an OpenRouter-style chunk with "error":{"code","message"}
//	                         then [DONE]; Responses an `error` event then `response.failed`;
//	                         Anthropic `event: error` overloaded_error; Gemini an
//	                         {"error":{…,"status":"UNAVAILABLE"}} element. No final usage.
//	X-Sim-Status: S          status S (400..599) with the dialect's error body (401, 400, 404,
//	                         429, 500, 503, 529 have realistic messages and types)
//	X-Sim-HTML: S            an HTML error page with status S
//	X-Sim-Invalid-JSON: 1    a 200 with a truncated JSON body
//	X-Sim-Hang: 1            headers, then nothing until the client goes away, Close, or
//	                         Options.HangTimeout (60s); then the connection is cut
//	X-Sim-TTFT, X-Sim-Gap    delay before the first stream event, between content events
//	X-Sim-Latency            delay of a non-streamed response
//	X-Sim-Encoding           gzip, br or zstd: compress the body (streams: the whole stream,
//	                         flushed after each event) and set Content-Encoding
//
// Invalid X-Sim-* values get a 400 in the dialect's shape naming the header.
// With Options.ErrorRate > 0 a deterministic pseudo-random share of the
// requests (sequence fixed by Options.Seed) fail with 429 or 500 in the
// dialect's shape. A 429 carries Retry-After-Ms: 10 so SDK retries stay fast.
//
// # Recording
//
// Requests returns the last Options.MaxRecorded (10000) requests with their
// credentials, query, body and header; Count counts every request.
package sim
