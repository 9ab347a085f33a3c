package sim

import (
	"encoding/base64"
	"encoding/binary"
	"math"
)

// appendChatUsage appends the CompletionUsage object of chat and legacy
// completions.
func appendChatUsage(b []byte, p *params) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, p.in)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, p.out)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, p.in+p.out)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, p.cached)
	b = append(b, `,"audio_tokens":0,"cache_write_tokens":`...)
	b = appendInt(b, p.cacheWrite)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, p.reasoning)
	return append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

func (s *Server) appendChat(b []byte, p *params) []byte {
	b = append(b, `{"id":"chatcmpl-sim`...)
	b = append(b, p.id...)
	b = append(b, `","object":"chat.completion","created":`...)
	b = appendInt(b, p.created)
	b = append(b, `,"model":`...)
	b = appendString(b, p.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
	b = s.appendWords(b, p.chunks)
	b = append(b, `","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}]`...)
	if !p.noUsage {
		b = append(b, `,"usage":`...)
		b = appendChatUsage(b, p)
	}
	return append(b, `,"service_tier":"default","system_fingerprint":"fp_sim"}`...)
}

func (s *Server) appendCompletion(b []byte, p *params) []byte {
	b = append(b, `{"id":"cmpl-sim`...)
	b = append(b, p.id...)
	b = append(b, `","object":"text_completion","created":`...)
	b = appendInt(b, p.created)
	b = append(b, `,"model":`...)
	b = appendString(b, p.model)
	b = append(b, `,"choices":[{"text":"`...)
	b = s.appendWords(b, p.chunks)
	b = append(b, `","index":0,"logprobs":null,"finish_reason":"stop"}]`...)
	if !p.noUsage {
		b = append(b, `,"usage":`...)
		b = appendChatUsage(b, p)
	}
	return append(b, `,"system_fingerprint":"fp_sim"}`...)
}

// chatChunkHead appends the start of a chat or completions stream chunk up to
// and including `"choices":[`.
func chatChunkHead(b []byte, p *params) []byte {
	if p.endpoint == epCompletions {
		b = append(b, `data: {"id":"cmpl-sim`...)
		b = append(b, p.id...)
		b = append(b, `","object":"text_completion","created":`...)
	} else {
		b = append(b, `data: {"id":"chatcmpl-sim`...)
		b = append(b, p.id...)
		b = append(b, `","object":"chat.completion.chunk","created":`...)
	}
	b = appendInt(b, p.created)
	b = append(b, `,"model":`...)
	b = appendString(b, p.model)
	if p.endpoint == epChat {
		b = append(b, `,"service_tier":"default"`...)
	}
	return append(b, `,"system_fingerprint":"fp_sim","choices":[`...)
}

// streamChat writes a chat completions or legacy completions stream.
func (s *Server) streamChat(st *streamer) bool {
	p := st.p
	head := chatChunkHead(make([]byte, 0, 256), p)
	withUsage := p.includeUsage && !p.noUsage && p.cut < 0
	tail := "}\n\n"
	if p.includeUsage && !p.noUsage {
		tail = `,"usage":null}` + "\n\n"
	}
	chat := p.endpoint == epChat
	if chat {
		st.buf = append(st.buf, head...)
		st.buf = append(st.buf, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`...)
		st.buf = append(st.buf, tail...)
		if !st.send() {
			return false
		}
	}
	errAt := -1
	if p.streamErr {
		errAt = max(1, p.chunks/2)
	}
	for i := range p.chunks {
		if i == p.cut {
			return false
		}
		if i == errAt {
			return s.chatStreamError(st, head)
		}
		if i > 0 || chat {
			if !st.pause() {
				return false
			}
		}
		st.buf = append(st.buf, head...)
		if chat {
			st.buf = append(st.buf, `{"index":0,"delta":{"content":"`...)
			st.buf = s.appendWord(st.buf, i)
			st.buf = append(st.buf, `"},"logprobs":null,"finish_reason":null}]`...)
		} else {
			st.buf = append(st.buf, `{"text":"`...)
			st.buf = s.appendWord(st.buf, i)
			st.buf = append(st.buf, `","index":0,"logprobs":null,"finish_reason":null}]`...)
		}
		st.buf = append(st.buf, tail...)
		if !st.send() {
			return false
		}
	}
	if p.cut == p.chunks {
		return false
	}
	if errAt >= p.chunks {
		return s.chatStreamError(st, head)
	}
	st.buf = append(st.buf, head...)
	if chat {
		st.buf = append(st.buf, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`...)
	} else {
		st.buf = append(st.buf, `{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}]`...)
	}
	st.buf = append(st.buf, tail...)
	if withUsage {
		st.buf = append(st.buf, head...)
		st.buf = append(st.buf, `],"usage":`...)
		st.buf = appendChatUsage(st.buf, p)
		st.buf = append(st.buf, "}\n\n"...)
	}
	st.buf = append(st.buf, "data: [DONE]\n\n"...)
	return st.send()
}

// chatStreamError writes an OpenRouter-style error chunk (HTTP status already
// 200) and ends the stream with [DONE]; no usage is sent.
func (s *Server) chatStreamError(st *streamer, head []byte) bool {
	st.buf = append(st.buf, head[:len(head)-len(`"choices":[`)]...)
	st.buf = append(st.buf, `"error":{"code":502,"message":"Upstream provider error: the model stopped unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"error"}]}`+"\n\n"...)
	st.buf = append(st.buf, "data: [DONE]\n\n"...)
	return st.send()
}

func appendResponsesUsage(b []byte, p *params) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, p.in)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, p.cached)
	b = append(b, `,"cache_write_tokens":`...)
	b = appendInt(b, p.cacheWrite)
	b = append(b, `},"output_tokens":`...)
	b = appendInt(b, p.out)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, p.reasoning)
	b = append(b, `},"total_tokens":`...)
	b = appendInt(b, p.in+p.out)
	return append(b, '}')
}

// appendOutputMessage appends the output message item of a response.
func (s *Server) appendOutputMessage(b []byte, p *params, status string, n int) []byte {
	b = append(b, `{"id":"msg_sim`...)
	b = append(b, p.id...)
	b = append(b, `","type":"message","status":"`...)
	b = append(b, status...)
	b = append(b, `","content":[`...)
	if n >= 0 {
		b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":"`...)
		b = s.appendWords(b, n)
		b = append(b, `"}`...)
	}
	return append(b, `],"role":"assistant"}`...)
}

// appendResponse appends a Responses API response object; done selects the
// completed object (output and usage) over the in-progress one.
func (s *Server) appendResponse(b []byte, p *params, done bool) []byte {
	return s.appendResponseStatus(b, p, done, false)
}

func (s *Server) appendResponseStatus(b []byte, p *params, done, failed bool) []byte {
	b = append(b, `{"id":"resp_sim`...)
	b = append(b, p.id...)
	b = append(b, `","object":"response","created_at":`...)
	b = appendInt(b, p.created)
	switch {
	case failed:
		b = append(b, `,"status":"failed","background":false,"completed_at":null,"error":{"code":"server_error","message":"The server had an error while processing your request. Sorry about that!"}`...)
	case done:
		b = append(b, `,"status":"completed","background":false,"completed_at":`...)
		b = appendInt(b, p.created)
		b = append(b, `,"error":null`...)
	default:
		b = append(b, `,"status":"in_progress","background":false,"completed_at":null,"error":null`...)
	}
	b = append(b, `,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":`...)
	b = appendString(b, p.model)
	b = append(b, `,"output":[`...)
	if done {
		b = s.appendOutputMessage(b, p, "completed", p.chunks)
	}
	b = append(b, `],"parallel_tool_calls":true,"previous_response_id":null,"prompt_cache_key":null,"prompt_cache_retention":null,"reasoning":{"effort":null,"summary":null},"safety_identifier":null,"service_tier":`...)
	if done {
		b = append(b, `"default"`...)
	} else {
		b = append(b, `"auto"`...)
	}
	b = append(b, `,"store":true,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":`...)
	if done && !p.noUsage {
		b = appendResponsesUsage(b, p)
	} else {
		b = append(b, "null"...)
	}
	return append(b, `,"user":null,"metadata":{}}`...)
}

// respEvent appends the `event:` line and the start of the data object up to
// and including its sequence number.
func respEvent(b []byte, typ string, seq int) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	return appendInt(b, int64(seq))
}

// streamResponses writes a Responses API stream.
func (s *Server) streamResponses(st *streamer) bool {
	p := st.p
	seq := 0
	ev := func(typ string) {
		st.buf = respEvent(st.buf, typ, seq)
		seq++
	}
	itemID := append([]byte(`"item_id":"msg_sim`), p.id...)
	itemID = append(itemID, `","output_index":0,"content_index":0`...)

	ev("response.created")
	st.buf = append(st.buf, `,"response":`...)
	st.buf = s.appendResponse(st.buf, p, false)
	st.buf = append(st.buf, "}\n\n"...)
	ev("response.in_progress")
	st.buf = append(st.buf, `,"response":`...)
	st.buf = s.appendResponse(st.buf, p, false)
	st.buf = append(st.buf, "}\n\n"...)
	ev("response.output_item.added")
	st.buf = append(st.buf, `,"output_index":0,"item":`...)
	st.buf = s.appendOutputMessage(st.buf, p, "in_progress", -1)
	st.buf = append(st.buf, "}\n\n"...)
	ev("response.content_part.added")
	st.buf = append(st.buf, ',')
	st.buf = append(st.buf, itemID...)
	st.buf = append(st.buf, `,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}`+"\n\n"...)
	if !st.send() {
		return false
	}
	errAt := -1
	if p.streamErr {
		errAt = max(1, p.chunks/2)
	}
	for i := range p.chunks {
		if i == p.cut {
			return false
		}
		if i == errAt {
			break
		}
		if !st.pause() {
			return false
		}
		ev("response.output_text.delta")
		st.buf = append(st.buf, ',')
		st.buf = append(st.buf, itemID...)
		st.buf = append(st.buf, `,"delta":"`...)
		st.buf = s.appendWord(st.buf, i)
		st.buf = append(st.buf, `","logprobs":[]}`+"\n\n"...)
		if !st.send() {
			return false
		}
	}
	if p.cut == p.chunks {
		return false
	}
	if errAt >= 0 {
		ev("error")
		st.buf = append(st.buf, `,"error":{"type":"server_error","code":"server_error","message":"The server had an error while processing your request. Sorry about that!","param":null}}`+"\n\n"...)
		ev("response.failed")
		st.buf = append(st.buf, `,"response":`...)
		st.buf = s.appendResponseStatus(st.buf, p, false, true)
		st.buf = append(st.buf, "}\n\n"...)
		return st.send()
	}
	ev("response.output_text.done")
	st.buf = append(st.buf, ',')
	st.buf = append(st.buf, itemID...)
	st.buf = append(st.buf, `,"text":"`...)
	st.buf = s.appendWords(st.buf, p.chunks)
	st.buf = append(st.buf, `","logprobs":[]}`+"\n\n"...)
	ev("response.content_part.done")
	st.buf = append(st.buf, ',')
	st.buf = append(st.buf, itemID...)
	st.buf = append(st.buf, `,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"`...)
	st.buf = s.appendWords(st.buf, p.chunks)
	st.buf = append(st.buf, `"}}`+"\n\n"...)
	ev("response.output_item.done")
	st.buf = append(st.buf, `,"output_index":0,"item":`...)
	st.buf = s.appendOutputMessage(st.buf, p, "completed", p.chunks)
	st.buf = append(st.buf, "}\n\n"...)
	ev("response.completed")
	st.buf = append(st.buf, `,"response":`...)
	st.buf = s.appendResponse(st.buf, p, true)
	st.buf = append(st.buf, "}\n\n"...)
	return st.send()
}

// embeddingDims is the length of each simulated embedding vector.
const embeddingDims = 8

func (s *Server) appendEmbeddings(b []byte, p *params) []byte {
	b = append(b, `{"object":"list","data":[`...)
	for i := range p.inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = appendInt(b, int64(i))
		b = append(b, `,"embedding":`...)
		if p.base64 {
			var raw [embeddingDims * 4]byte
			for d := range embeddingDims {
				binary.LittleEndian.PutUint32(raw[d*4:], math.Float32bits(embeddingValue(i, d)))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw[:])
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for d := range embeddingDims {
				if d > 0 {
					b = append(b, ',')
				}
				b = appendFloat32(b, embeddingValue(i, d))
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, p.model)
	if !p.noUsage {
		b = append(b, `,"usage":{"prompt_tokens":`...)
		b = appendInt(b, p.in)
		b = append(b, `,"total_tokens":`...)
		b = appendInt(b, p.in)
		b = append(b, '}')
	}
	return append(b, '}')
}

// embeddingValue is a deterministic component of a unit-scale vector.
func embeddingValue(i, d int) float32 {
	return float32((i*7+d*13)%200-100) / 1000
}

func appendModels(b []byte, created int64) []byte {
	b = append(b, `{"object":"list","data":[`...)
	for i, m := range [...]string{"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-5", "o3-mini", "text-embedding-3-small", "text-embedding-3-large"} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = append(b, m...)
		b = append(b, `","object":"model","created":`...)
		b = appendInt(b, created)
		b = append(b, `,"owned_by":"system"}`...)
	}
	return append(b, `]}`...)
}
