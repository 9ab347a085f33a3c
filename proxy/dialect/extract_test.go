package dialect

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter/usage"
)

func TestErrorClassification(t *testing.T) {
	f := func(d Dialect, status int, body string, want usage.ErrorType, wantMsg string) {
		t.Helper()
		var u usage.Usage
		ei := ExtractBody(d, usage.CategoryChatCompletions, status, []byte(body), &u)
		if ei.Type != want || string(ei.Message) != wantMsg {
			t.Errorf("ExtractBody(%v, %d, %.60q) = %v %q, want %v %q", d, status, body, ei.Type, ei.Message, want, wantMsg)
		}
		if u.Reported() {
			t.Errorf("usage reported from an error body: %+v", u)
		}
	}
	// OpenAI.
	f(OpenAI, 429, `{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`, usage.ErrRateLimit, "Rate limit reached")
	f(OpenAI, 429, `{"error":{"message":"q","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, usage.ErrRateLimit, "q")
	f(OpenAI, 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, usage.ErrAuth, "Incorrect API key provided")
	f(OpenAI, 401, `{"error":{"message":"m","type":"invalid_request_error","param":null,"code":null}}`, usage.ErrAuth, "m")
	f(OpenAI, 404, `{"error":{"message":"nf","type":"invalid_request_error","code":"model_not_found"}}`, usage.ErrInvalidRequest, "nf")
	f(OpenAI, 500, `{"error":{"message":"The server had an error while processing your request.","type":"server_error","code":null}}`, usage.ErrModel, "The server had an error while processing your request.")
	f(OpenAI, 503, `{"error":{"message":"overloaded","type":null}}`, usage.ErrModel, "overloaded")
	f(OpenAI, 200, `{"error":{"message":"late","type":"server_error"}}`, usage.ErrModel, "late")
	f(OpenAI, 200, `{"id":"x","error":null,"usage":null}`, usage.ErrNone, "")
	// OpenRouter: integer code.
	f(OpenAI, 429, `{"error":{"code":429,"message":"Provider returned error","metadata":{"provider_name":"x"}},"user_id":"u"}`, usage.ErrRateLimit, "Provider returned error")
	f(OpenAI, 200, `{"error":{"code":502,"message":"upstream"}}`, usage.ErrModel, "upstream")
	// Anthropic.
	for typ, want := range map[string]usage.ErrorType{
		"rate_limit_error": usage.ErrRateLimit, "overloaded_error": usage.ErrModel, "authentication_error": usage.ErrAuth,
		"permission_error": usage.ErrAuth, "invalid_request_error": usage.ErrInvalidRequest, "not_found_error": usage.ErrInvalidRequest,
		"request_too_large": usage.ErrInvalidRequest, "api_error": usage.ErrModel, "timeout_error": usage.ErrTimeout,
		"billing_error": usage.ErrRateLimit,
	} {
		f(Anthropic, 400, `{"type":"error","error":{"type":"`+typ+`","message":"m"},"request_id":"r"}`, want, "m")
	}
	f(Anthropic, 529, `{"type":"error","error":{"type":"something_new","message":"m"}}`, usage.ErrModel, "m")
	f(Anthropic, 200, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, usage.ErrModel, "Overloaded")
	// Gemini.
	for st, want := range map[string]usage.ErrorType{
		"RESOURCE_EXHAUSTED": usage.ErrRateLimit, "INVALID_ARGUMENT": usage.ErrInvalidRequest, "NOT_FOUND": usage.ErrInvalidRequest,
		"FAILED_PRECONDITION": usage.ErrInvalidRequest, "UNAUTHENTICATED": usage.ErrAuth, "PERMISSION_DENIED": usage.ErrAuth,
		"DEADLINE_EXCEEDED": usage.ErrTimeout, "INTERNAL": usage.ErrModel, "UNAVAILABLE": usage.ErrModel,
	} {
		f(Gemini, 400, `{"error":{"code":400,"message":"m","status":"`+st+`"}}`, want, "m")
	}
	f(Gemini, 503, `[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]`, usage.ErrModel, "The model is overloaded.")
	// Not JSON.
	f(OpenAI, 502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n", usage.ErrModel, "502 Bad Gateway")
	f(Anthropic, 504, "upstream request timeout", usage.ErrTimeout, "upstream request timeout")
	f(Gemini, 500, "", usage.ErrModel, "")
	f(OpenAI, 400, "\x00\xff{{{garbage", usage.ErrInvalidRequest, "\x00\xff{{{garbage")
	f(OpenAI, 200, "<html>ok</html>", usage.ErrNone, "")
	f(OpenAI, 418, `{"message":"The provided model identifier is invalid."}`, usage.ErrInvalidRequest, "The provided model identifier is invalid.")
	f(OpenAI, 401, `{"error":"Unauthorized"}`, usage.ErrAuth, "Unauthorized")
	f(OpenAI, 429, `[]`, usage.ErrRateLimit, "[]")
	// Long messages are cut at 512 bytes on a rune boundary.
	long := strings.Repeat("é", 300)
	f(OpenAI, 400, `{"error":{"message":"`+long+`","code":"x"}}`, usage.ErrInvalidRequest, long[:512])
	f(OpenAI, 400, `{"error":{"message":"a`+long+`","code":"x"}}`, usage.ErrInvalidRequest, ("a" + long)[:511])
	// Escaped messages are unescaped.
	f(OpenAI, 400, `{"error":{"message":"bad \"x\"\n","code":"x"}}`, usage.ErrInvalidRequest, "bad \"x\"\n")
}

func TestExtractBodyCases(t *testing.T) {
	f := func(d Dialect, cat usage.Category, body string, want map[string]int64, tier usage.Tier) {
		t.Helper()
		var u usage.Usage
		ei := ExtractBody(d, cat, 200, []byte(body), &u)
		if ei.Type != usage.ErrNone {
			t.Errorf("unexpected error %v", ei.Type)
		}
		if got := usageMap(&u); !reflect.DeepEqual(got, want) || u.Tier != tier {
			t.Errorf("ExtractBody(%s)\n got %v %v\nwant %v %v", body, got, u.Tier, want, tier)
		}
		wantSource := usage.SourceNone
		if len(want) > 0 {
			wantSource = usage.SourceProvider
		}
		if u.Source != wantSource {
			t.Errorf("source %v, want %v", u.Source, wantSource)
		}
	}
	type m = map[string]int64
	// DeepSeek: cache hit tokens when no details.
	f(OpenAI, usage.CategoryChatCompletions, `{"usage":{"prompt_tokens":100,"completion_tokens":5,"total_tokens":105,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}`,
		m{"input": 100, "cache_read": 64, "output": 5}, usage.TierDefault)
	// OpenAI cache write and priority tier.
	f(OpenAI, usage.CategoryChatCompletions, `{"service_tier":"priority","usage":{"prompt_tokens":4020,"completion_tokens":5,"total_tokens":4025,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":4012}}}`,
		m{"input": 4020, "cache_read": 0, "cache_write": 4012, "output": 5}, usage.TierPriority)
	f(OpenAI, usage.CategoryResponses, `{"service_tier":"flex","usage":{"input_tokens":10,"output_tokens":3,"total_tokens":13}}`,
		m{"input": 10, "output": 3}, usage.TierFlex)
	// Embeddings: output reported as 0.
	f(OpenAI, usage.CategoryEmbeddings, `{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`, m{"input": 8, "output": 0}, usage.TierDefault)
	// Negative counts clamp to 0; null and strings are not reported.
	f(OpenAI, usage.CategoryChatCompletions, `{"usage":{"prompt_tokens":-5,"completion_tokens":null,"total_tokens":"9"}}`, m{"input": 0}, usage.TierDefault)
	// Exact OpenRouter cost.
	f(OpenAI, usage.CategoryChatCompletions, `{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"cost":0.0123456}}`,
		m{"input": 1, "output": 1, "provider_cost_nano": 12345600}, usage.TierDefault)
	// Fractional transcription seconds.
	f(OpenAI, usage.CategoryAudio, `{"usage":{"type":"duration","seconds":7.25}}`, m{"audio_millis": 7250}, usage.TierDefault)
	// Anthropic cache with 1h writes, thinking, web search, batch tier.
	f(Anthropic, usage.CategoryChatCompletions, `{"usage":{"input_tokens":3,"cache_creation_input_tokens":418,"cache_read_input_tokens":1111,"cache_creation":{"ephemeral_5m_input_tokens":18,"ephemeral_1h_input_tokens":400},"output_tokens":33,"output_tokens_details":{"thinking_tokens":20},"server_tool_use":{"web_search_requests":2},"service_tier":"batch"}}`,
		m{"input": 1532, "cache_write": 418, "cache_write_1h": 400, "cache_read": 1111, "output": 33, "reasoning": 20, "web_search_requests": 2}, usage.TierBatch)
	// Anthropic null cache fields stay not reported.
	f(Anthropic, usage.CategoryChatCompletions, `{"usage":{"input_tokens":3,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,"output_tokens":1}}`,
		m{"input": 3, "output": 1}, usage.TierDefault)
	// Anthropic count_tokens has no usage object.
	f(Anthropic, usage.CategoryOther, `{"input_tokens":42}`, m{}, usage.TierDefault)
	// Gemini: tool-use prompt, cache, modalities.
	f(Gemini, usage.CategoryChatCompletions, `{"usageMetadata":{"promptTokenCount":373,"cachedContentTokenCount":204,"toolUsePromptTokenCount":7,"candidatesTokenCount":89,"thoughtsTokenCount":167,"totalTokenCount":636,
		"promptTokensDetails":[{"modality":"TEXT","tokenCount":232},{"modality":"IMAGE","tokenCount":141}],"candidatesTokensDetails":[{"modality":"AUDIO","tokenCount":80},{"modality":"TEXT","tokenCount":9}]}}`,
		m{"input": 380, "cache_read": 204, "input_image": 141, "output": 256, "reasoning": 167, "output_audio": 80}, usage.TierDefault)
	// Gemini without candidates yet (blocked prompt).
	f(Gemini, usage.CategoryChatCompletions, `{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":12,"totalTokenCount":12}}`,
		m{"input": 12}, usage.TierDefault)
	// Images with output details.
	f(OpenAI, usage.CategoryImageGeneration, `{"usage":{"input_tokens":50,"output_tokens":4160,"total_tokens":4210,"input_tokens_details":{"text_tokens":50,"image_tokens":0},"output_tokens_details":{"image_tokens":4160,"text_tokens":0}}}`,
		m{"input": 50, "input_image": 0, "output": 4160, "output_image": 4160}, usage.TierDefault)
	// No usage at all (DALL-E).
	f(OpenAI, usage.CategoryImageGeneration, `{"created":1,"data":[{"url":"u"}]}`, m{}, usage.TierDefault)
	// Absurd numbers are read as the bounds, so no sum overflows (a fuzzer
	// found an Anthropic input that wrapped to a negative count); a cost
	// or duration beyond int64 stays not reported.
	const mc, mcost = usage.MaxCount, usage.MaxCostNano
	f(OpenAI, usage.CategoryChatCompletions, `{"usage":{"prompt_tokens":1E20,"completion_tokens":99999999999999999999,"total_tokens":1e300,"cost":2000000}}`,
		m{"input": mc, "output": mc, "provider_cost_nano": mcost}, usage.TierDefault)
	f(Anthropic, usage.CategoryChatCompletions, `{"usage":{"input_tokens":1,"cache_creation_input_tokens":1E20,"cache_read_input_tokens":9223372036854775807,"output_tokens":1e19}}`,
		m{"input": 1 + 2*mc, "cache_write": mc, "cache_read": mc, "output": mc}, usage.TierDefault)
	f(OpenAI, usage.CategoryAudio, `{"usage":{"type":"duration","seconds":2e9}}`, m{"audio_millis": mc}, usage.TierDefault)
}

func TestStreamCases(t *testing.T) {
	f := func(d Dialect, cat usage.Category, events [][2]string, want map[string]int64, wantErr usage.ErrorType, wantMsg string) {
		t.Helper()
		var st StreamState
		st.Reset(d, cat)
		for _, e := range events {
			st.OnEvent([]byte(e[0]), []byte(e[1]))
		}
		var u usage.Usage
		ei := st.Result(&u)
		if got := usageMap(&u); !reflect.DeepEqual(got, want) || ei.Type != wantErr || string(ei.Message) != wantMsg {
			t.Errorf("got %v %v %q, want %v %v %q", got, ei.Type, ei.Message, want, wantErr, wantMsg)
		}
	}
	type m = map[string]int64
	// Groq 2025: usage only in x_groq.
	f(OpenAI, usage.CategoryChatCompletions, [][2]string{
		{"", `{"choices":[{"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"r","usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}}`},
		{"", "[DONE]"},
	}, m{"input": 5, "output": 2}, usage.ErrNone, "")
	// DeepSeek: usage on the finish chunk, usage null before; the last wins.
	f(OpenAI, usage.CategoryChatCompletions, [][2]string{
		{"", `{"choices":[{"delta":{"content":"a"}}],"usage":null}`},
		{"", `{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_cache_hit_tokens":8}}`},
	}, m{"input": 10, "cache_read": 8, "output": 3}, usage.ErrNone, "")
	// Responses: spec-shaped error event (top-level code/message).
	f(OpenAI, usage.CategoryResponses, [][2]string{
		{"error", `{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":1}`},
	}, m{}, usage.ErrRateLimit, "slow down")
	// Responses: response.failed alone, with usage.
	f(OpenAI, usage.CategoryResponses, [][2]string{
		{"response.failed", `{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"},"usage":{"input_tokens":5,"output_tokens":1,"total_tokens":6}}}`},
	}, m{"input": 5, "output": 1}, usage.ErrModel, "boom")
	// Responses: incomplete carries usage and is not an error.
	f(OpenAI, usage.CategoryResponses, [][2]string{
		{"response.incomplete", `{"type":"response.incomplete","response":{"status":"incomplete","usage":{"input_tokens":5,"output_tokens":16,"total_tokens":21,"output_tokens_details":{"reasoning_tokens":16}}}}`},
	}, m{"input": 5, "output": 16, "reasoning": 16}, usage.ErrNone, "")
	// Image edit stream.
	f(OpenAI, usage.CategoryImageGeneration, [][2]string{
		{"image_edit.partial_image", `{"type":"image_edit.partial_image","b64_json":"..."}`},
		{"image_edit.completed", `{"type":"image_edit.completed","usage":{"input_tokens":7,"output_tokens":9,"total_tokens":16}}`},
	}, m{"input": 7, "output": 9}, usage.ErrNone, "")
	// Anthropic: a later delta without input keeps the earlier input.
	f(Anthropic, usage.CategoryChatCompletions, [][2]string{
		{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":1}}}`},
		{"message_delta", `{"type":"message_delta","usage":{"output_tokens":40}}`},
		{"message_delta", `{"type":"message_delta","usage":{"output_tokens":50,"cache_read_input_tokens":null}}`},
	}, m{"input": 125, "cache_write": 5, "cache_read": 100, "output": 50}, usage.ErrNone, "")
	// Anthropic: error after usage keeps the usage.
	f(Anthropic, usage.CategoryChatCompletions, [][2]string{
		{"message_start", `{"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}`},
		{"error", `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`},
		{"error", `{"type":"error","error":{"type":"overloaded_error","message":"second"}}`},
	}, m{"input": 20, "output": 1}, usage.ErrModel, "Internal server error")
	// Gemini alt=sse: last usageMetadata replaces, never adds.
	f(Gemini, usage.CategoryChatCompletions, [][2]string{
		{"", `{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":15,"totalTokenCount":15}}`},
		{"", `{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":4,"totalTokenCount":17}}`},
	}, m{"input": 13, "output": 4}, usage.ErrNone, "")
	// Gemini error element in a JSON-array stream.
	f(Gemini, usage.CategoryChatCompletions, [][2]string{
		{"", `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`},
	}, m{}, usage.ErrModel, "The model is overloaded.")
	// Garbage is ignored.
	f(OpenAI, usage.CategoryChatCompletions, [][2]string{{"", "[DONE]"}, {"", "{not json"}, {"", ""}}, m{}, usage.ErrNone, "")
}

func TestStreamStateReuse(t *testing.T) {
	var st StreamState
	st.Reset(Anthropic, usage.CategoryChatCompletions)
	st.OnEvent([]byte("error"), []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	st.OnEvent([]byte("content_block_delta"), []byte(`{"type":"content_block_delta","delta":{"text":"x"}}`))
	st.Reset(OpenAI, usage.CategoryChatCompletions)
	var u usage.Usage
	if ei := st.Result(&u); ei.Type != usage.ErrNone || ei.Message != nil || len(st.OutputText()) != 0 || u.Reported() {
		t.Fatalf("state leaked across Reset: %+v %q %+v", ei, st.OutputText(), u)
	}
}

func TestOutputTextBounded(t *testing.T) {
	var st StreamState
	st.Reset(OpenAI, usage.CategoryChatCompletions)
	chunk := []byte(`{"choices":[{"delta":{"content":"` + strings.Repeat("x", 4096) + `"}}]}`)
	for i := 0; i < (MaxOutputText/4096)+10; i++ {
		st.OnEvent(nil, chunk)
	}
	if n := len(st.OutputText()); n != MaxOutputText {
		t.Fatalf("OutputText is %d bytes, want %d", n, MaxOutputText)
	}
}

func TestParseScaled(t *testing.T) {
	f := func(in string, scale int, want int64, wantOK bool) {
		t.Helper()
		got, ok := parseScaled(in, scale)
		if got != want || ok != wantOK {
			t.Errorf("parseScaled(%q, %d) = %d, %v; want %d, %v", in, scale, got, ok, want, wantOK)
		}
	}
	f("0.0123456", 9, 12345600, true)
	f("0.00085", 9, 850000, true)
	f("0", 9, 0, true)
	f("1", 9, 1000000000, true)
	f("12.5", 9, 12500000000, true)
	f("1e-05", 9, 10000, true)
	f("2.5E-6", 9, 2500, true)
	f("1.5e2", 9, 150000000000, true)
	f("0.0000000004", 9, 0, true)
	f("0.0000000005", 9, 1, true)
	f("0.00000000149", 9, 1, true)
	f("-0.5", 9, -500000000, true)
	f("7", 3, 7000, true)
	f("7.0005", 3, 7001, true)
	f("0.1234567890123456789012", 9, 123456789, true)
	f("123456789012345678901234", 0, 0, false)
	f("1e400", 9, 0, false)
	f("1e-400", 9, 0, true)
	f("", 9, 0, false)
	f(".", 9, 0, false)
	f("1.2.3", 9, 0, false)
	f("1e", 9, 0, false)
	f("abc", 9, 0, false)
	f("1x", 9, 0, false)
}

func TestAppendUnquoted(t *testing.T) {
	f := func(q string, limit int, want string) {
		t.Helper()
		if got := string(appendUnquoted(nil, q, limit)); got != want {
			t.Errorf("appendUnquoted(%q, %d) = %q, want %q", q, limit, got, want)
		}
	}
	f(`a\nb\t\"c\"\\\/`, 100, "a\nb\t\"c\"\\/")
	f(`\u00e9\ud83d\ude00`, 100, "é😀")
	f(`\ud83d`, 100, "\uFFFD")
	f(`\u12`, 100, "\uFFFD")
	f(`abcdef`, 3, "abc")
	f(`ab\`, 100, "ab")
}

func TestMember(t *testing.T) {
	f := func(obj, key, wantRaw string) {
		t.Helper()
		got := member(gjson.Result{Type: gjson.JSON, Raw: obj}, key)
		if got.Raw != wantRaw {
			t.Errorf("member(%s, %q) = %q, want %q", obj, key, got.Raw, wantRaw)
		}
	}
	f(`{"a":"x\"y","b":{"c":"}"},"text" : "t\n" }`, "text", `"t\n"`)
	f(`{"a":[1,{"b":"]"}],"b":2}`, "b", `2`)
	f(`{"a":true}`, "b", ``)
	f(`{"a":`, "a", ``)
	f(`[1]`, "a", ``)
	f(` { "a" : null } `, "a", `null`)
}
