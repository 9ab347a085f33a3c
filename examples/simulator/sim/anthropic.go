package sim

// appendAnthropicUsage appends a Messages API usage object. input_tokens
// excludes the cache parts, so that input_tokens + cache_creation_input_tokens
// + cache_read_input_tokens is the simulated input. output is the output
// count to report (provisional in message_start); final adds the thinking
// tokens.
func appendAnthropicUsage(b []byte, p *params, output int64, final bool) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, p.in-p.cached-p.cacheWrite)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, p.cacheWrite)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, p.cached)
	b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
	b = appendInt(b, p.cacheWrite)
	b = append(b, `,"ephemeral_1h_input_tokens":0},"output_tokens":`...)
	b = appendInt(b, output)
	if p.reasoning > 0 && final {
		b = append(b, `,"output_tokens_details":{"thinking_tokens":`...)
		b = appendInt(b, p.reasoning)
		b = append(b, '}')
	}
	return append(b, `,"service_tier":"standard","inference_geo":"not_available"}`...)
}

func (s *Server) appendMessage(b []byte, p *params) []byte {
	b = append(b, `{"model":`...)
	b = appendString(b, p.model)
	b = append(b, `,"id":"msg_sim`...)
	b = append(b, p.id...)
	b = append(b, `","type":"message","role":"assistant","content":[{"type":"text","text":"`...)
	b = s.appendWords(b, p.chunks)
	b = append(b, `"}],"stop_reason":"end_turn","stop_sequence":null`...)
	if !p.noUsage {
		b = append(b, `,"usage":`...)
		b = appendAnthropicUsage(b, p, p.out, true)
	}
	return append(b, '}')
}

func anthropicEvent(b []byte, typ string) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	return append(b, '"')
}

// streamMessages writes a Messages API stream: message_start (usage with the
// input and cache parts and a provisional output of 1), a text block, ping,
// message_delta with the cumulative usage, message_stop.
func (s *Server) streamMessages(st *streamer) bool {
	p := st.p
	usage := !p.noUsage && p.cut < 0
	st.buf = anthropicEvent(st.buf, "message_start")
	st.buf = append(st.buf, `,"message":{"model":`...)
	st.buf = appendString(st.buf, p.model)
	st.buf = append(st.buf, `,"id":"msg_sim`...)
	st.buf = append(st.buf, p.id...)
	st.buf = append(st.buf, `","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null`...)
	if usage {
		st.buf = append(st.buf, `,"usage":`...)
		st.buf = appendAnthropicUsage(st.buf, p, min(1, p.out), false)
	}
	st.buf = append(st.buf, "}}\n\n"...)
	st.buf = anthropicEvent(st.buf, "content_block_start")
	st.buf = append(st.buf, `,"index":0,"content_block":{"type":"text","text":""}}`+"\n\n"...)
	st.buf = anthropicEvent(st.buf, "ping")
	st.buf = append(st.buf, "}\n\n"...)
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
		st.buf = anthropicEvent(st.buf, "content_block_delta")
		st.buf = append(st.buf, `,"index":0,"delta":{"type":"text_delta","text":"`...)
		st.buf = s.appendWord(st.buf, i)
		st.buf = append(st.buf, `"}}`+"\n\n"...)
		if !st.send() {
			return false
		}
	}
	if p.cut == p.chunks {
		return false
	}
	if errAt >= 0 {
		st.buf = anthropicEvent(st.buf, "error")
		st.buf = append(st.buf, `,"error":{"type":"overloaded_error","message":"Overloaded"}}`+"\n\n"...)
		return st.send()
	}
	st.buf = anthropicEvent(st.buf, "content_block_stop")
	st.buf = append(st.buf, `,"index":0}`+"\n\n"...)
	st.buf = anthropicEvent(st.buf, "message_delta")
	st.buf = append(st.buf, `,"delta":{"stop_reason":"end_turn","stop_sequence":null}`...)
	if usage {
		st.buf = append(st.buf, `,"usage":{"input_tokens":`...)
		st.buf = appendInt(st.buf, p.in-p.cached-p.cacheWrite)
		st.buf = append(st.buf, `,"cache_creation_input_tokens":`...)
		st.buf = appendInt(st.buf, p.cacheWrite)
		st.buf = append(st.buf, `,"cache_read_input_tokens":`...)
		st.buf = appendInt(st.buf, p.cached)
		st.buf = append(st.buf, `,"output_tokens":`...)
		st.buf = appendInt(st.buf, p.out)
		if p.reasoning > 0 {
			st.buf = append(st.buf, `,"output_tokens_details":{"thinking_tokens":`...)
			st.buf = appendInt(st.buf, p.reasoning)
			st.buf = append(st.buf, '}')
		}
		st.buf = append(st.buf, '}')
	}
	st.buf = append(st.buf, "}\n\n"...)
	st.buf = anthropicEvent(st.buf, "message_stop")
	st.buf = append(st.buf, "}\n\n"...)
	return st.send()
}
