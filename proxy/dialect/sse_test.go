package dialect

import (
	"bytes"
	"reflect"
	"testing"
)

func TestSSEScanner(t *testing.T) {
	f := func(name, in string, want []ownedEvent) {
		t.Helper()
		// Whole, every two-chunk split and 1-byte chunks give the same events.
		if got := collectEvents([][]byte{[]byte(in)}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q\nwant %q", name, got, want)
			return
		}
		for i := 0; i <= len(in); i++ {
			if got := collectEvents([][]byte{[]byte(in[:i]), []byte(in[i:])}); !reflect.DeepEqual(got, want) {
				t.Errorf("%s split at %d: got %q\nwant %q", name, i, got, want)
				return
			}
		}
		var bytewise [][]byte
		for i := 0; i < len(in); i++ {
			bytewise = append(bytewise, []byte{in[i]})
		}
		if got := collectEvents(bytewise); !reflect.DeepEqual(got, want) {
			t.Errorf("%s 1-byte chunks: got %q\nwant %q", name, got, want)
		}
	}
	f("lf", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []ownedEvent{
		{"", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"", "[DONE]", "data: [DONE]\n\n"},
	})
	f("crlf", "data: {\"a\":1}\r\n\r\ndata: b\r\n\r\n", []ownedEvent{
		{"", `{"a":1}`, "data: {\"a\":1}\r\n\r\n"},
		{"", "b", "data: b\r\n\r\n"},
	})
	f("cr", "event: x\rdata: 1\r\rdata: 2\r\r", []ownedEvent{
		{"x", "1", "event: x\rdata: 1\r\r"},
		{"", "2", "data: 2\r\r"},
	})
	f("mixed framing", "data: 1\r\n\ndata: 2\n\r\ndata: 3\r\r\n", []ownedEvent{
		{"", "1", "data: 1\r\n\n"},
		{"", "2", "data: 2\n\r\n"},
		{"", "3", "data: 3\r\r\n"},
	})
	f("named event", "event: message_start\ndata: {\"type\":\"message_start\"}\n\n", []ownedEvent{
		{"message_start", `{"type":"message_start"}`, "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"},
	})
	f("multi-line data", "data: a\ndata:b\ndata:  c\n\n", []ownedEvent{
		{"", "a\nb\n c", "data: a\ndata:b\ndata:  c\n\n"},
	})
	f("comments", ": OPENROUTER PROCESSING\n\n: ping\ndata: x\n\n", []ownedEvent{
		{"", "", ": OPENROUTER PROCESSING\n\n"},
		{"", "x", ": ping\ndata: x\n\n"},
	})
	f("trailing spaces", "data: {\"type\":\"message_stop\"   }   \n\n", []ownedEvent{
		{"", `{"type":"message_stop"   }`, "data: {\"type\":\"message_stop\"   }   \n\n"},
	})
	f("no space after colon, unknown fields, field without colon", "id: 7\nretry: 10\ndata\ndata:x\n\n", []ownedEvent{
		{"", "\nx", "id: 7\nretry: 10\ndata\ndata:x\n\n"},
	})
	f("blank lines between events", "\n\ndata: 1\n\n", []ownedEvent{
		{"", "", "\n"},
		{"", "", "\n"},
		{"", "1", "data: 1\n\n"},
	})
	f("unterminated tail", "data: 1\n\ndata: 2\n", []ownedEvent{
		{"", "1", "data: 1\n\n"},
		{"", "2", "data: 2\n"},
	})
	f("tail ending in cr", "data: 1\r", []ownedEvent{
		{"", "1", "data: 1\r"},
	})
	f("empty", "", nil)
}

func TestSSEScannerRawConcat(t *testing.T) {
	in := []byte(": c\r\n\r\nevent: a\ndata: 1\n\n\rdata: 2\r\n\r\ndata: 3")
	for i := 0; i <= len(in); i++ {
		var sc SSEScanner
		var raw []byte
		fn := func(ev Event) { raw = append(raw, ev.Raw...) }
		sc.Feed(in[:i], fn)
		sc.Feed(in[i:], fn)
		sc.Finish(fn)
		if !bytes.Equal(raw, in) {
			t.Fatalf("split %d: Raw concat %q, want %q", i, raw, in)
		}
	}
}

func TestArrayScanner(t *testing.T) {
	f := func(name, in string, want []string) {
		t.Helper()
		for i := 0; i <= len(in); i++ {
			var a ArrayScanner
			var got []string
			fn := func(e []byte) { got = append(got, string(e)) }
			a.Feed([]byte(in[:i]), fn)
			a.Feed([]byte(in[i:]), fn)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s split at %d: got %q, want %q", name, i, got, want)
				return
			}
		}
	}
	f("gemini framing", "[{\"a\":1}\n,\r\n{\"b\":{\"c\":[1,2]}}\n]", []string{`{"a":1}`, `{"b":{"c":[1,2]}}`})
	f("braces in strings", `[{"t":"}]{[\"\\"},{"u":"\\"}]`, []string{`{"t":"}]{[\"\\"}`, `{"u":"\\"}`})
	f("bare object", `{"error":{"code":429}}`, []string{`{"error":{"code":429}}`})
	f("scalars skipped", `[1,"x",{"a":1},null]`, []string{`{"a":1}`})
	f("nested array element", `[[{"a":1}],{"b":2}]`, []string{`[{"a":1}]`, `{"b":2}`})
	f("truncated", `[{"a":1},{"b":`, []string{`{"a":1}`})
	f("empty", `[]`, nil)
}
