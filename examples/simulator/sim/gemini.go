package sim

// appendGeminiUsage appends usageMetadata with cand candidate tokens;
// thoughts and cached tokens are written only when not zero, as Gemini does.
func appendGeminiUsage(b []byte, p *params, cand int64) []byte {
	b = append(b, `{"promptTokenCount":`...)
	b = appendInt(b, p.in)
	b = append(b, `,"candidatesTokenCount":`...)
	b = appendInt(b, cand)
	b = append(b, `,"totalTokenCount":`...)
	b = appendInt(b, p.in+cand+p.reasoning)
	if p.cached > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = appendInt(b, p.cached)
	}
	b = append(b, `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
	b = appendInt(b, p.in)
	b = append(b, `}]`...)
	if p.cached > 0 {
		b = append(b, `,"cacheTokensDetails":[{"modality":"TEXT","tokenCount":`...)
		b = appendInt(b, p.cached)
		b = append(b, `}]`...)
	}
	if p.reasoning > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = appendInt(b, p.reasoning)
	}
	return append(b, `,"serviceTier":"standard"}`...)
}

// appendGemini appends a GenerateContentResponse. For a stream chunk, i is
// the 1-based chunk number of n and the text is that chunk's word; for a
// whole response i == n and whole is true. The candidates count is
// cumulative: (output - reasoning) * i / n.
func (s *Server) appendGemini(b []byte, p *params, i, n int, whole bool) []byte {
	b = append(b, `{"candidates":[{"content":{"parts":[{"text":"`...)
	if whole {
		b = s.appendWords(b, n)
	} else {
		b = s.appendWord(b, i-1)
	}
	b = append(b, `"}],"role":"model"}`...)
	if i == n {
		b = append(b, `,"finishReason":"STOP"`...)
	}
	b = append(b, `,"index":0}]`...)
	if !p.noUsage && p.cut < 0 {
		b = append(b, `,"usageMetadata":`...)
		b = appendGeminiUsage(b, p, (p.out-p.reasoning)*int64(i)/int64(n))
	}
	b = append(b, `,"modelVersion":`...)
	b = appendString(b, p.model)
	b = append(b, `,"responseId":"sim`...)
	b = append(b, p.id...)
	return append(b, `"}`...)
}

// streamGemini writes streamGenerateContent: SSE (`data: {...}\r\n\r\n`)
// with alt=sse, otherwise one JSON array written element by element
// (`[{...}` then `\n,\r\n{...}` … then `\n]`).
func (s *Server) streamGemini(st *streamer) bool {
	p := st.p
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
		if i > 0 && !st.pause() {
			return false
		}
		st.buf = geminiSep(st.buf, p, i)
		st.buf = s.appendGemini(st.buf, p, i+1, p.chunks, false)
		if p.sse {
			st.buf = append(st.buf, "\r\n\r\n"...)
		}
		if !st.send() {
			return false
		}
	}
	if p.cut == p.chunks {
		return false
	}
	if errAt >= 0 {
		st.buf = geminiSep(st.buf, p, errAt)
		st.buf = append(st.buf, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`...)
		if p.sse {
			st.buf = append(st.buf, "\r\n\r\n"...)
		}
	}
	if !p.sse {
		st.buf = append(st.buf, "\n]"...)
	}
	return len(st.buf) == 0 || st.send()
}

// geminiSep appends what precedes element i of a Gemini stream.
func geminiSep(b []byte, p *params, i int) []byte {
	switch {
	case p.sse:
		return append(b, "data: "...)
	case i == 0:
		return append(b, '[')
	}
	return append(b, "\n,\r\n"...)
}
