package dialect

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-json"
	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter/usage"
)

// golden is the hand-written expectation beside each payload fixture.
type golden struct {
	Why      string           `json:"why"`
	Dialect  string           `json:"dialect"`
	Category string           `json:"category"`
	Mode     string           `json:"mode"` // body, sse, jsonl, array
	Status   int              `json:"status"`
	Usage    map[string]int64 `json:"usage"` // reported counts only
	Tier     string           `json:"tier"`
	Source   string           `json:"source"`
	Error    string           `json:"error"`
	Message  string           `json:"message"`
}

// notPayloads are fixture files that are not provider responses: the
// attribution list, quoted issue text and a price list (read by the pricing
// package, not here).
var notPayloads = map[string]bool{
	"SOURCES.md": true,
	"openai_errors_429_401_issue_excerpts.txt": true,
	"openrouter_models.json":                   true,
}

const fixtureDir = "testdata/fixtures"

// result is what one extraction produced, comparable with ==.
type result struct {
	Usage   map[string]int64
	Tier    string
	Source  string
	Error   string
	Message string
}

func usageMap(u *usage.Usage) map[string]int64 {
	m := map[string]int64{}
	for _, f := range []struct {
		name string
		c    usage.Count
	}{
		{"input", u.Input}, {"cache_read", u.CacheRead}, {"cache_write", u.CacheWrite},
		{"cache_write_1h", u.CacheWrite1h}, {"input_audio", u.InputAudio}, {"input_image", u.InputImage},
		{"output", u.Output}, {"reasoning", u.Reasoning}, {"output_audio", u.OutputAudio},
		{"output_image", u.OutputImage}, {"audio_millis", u.AudioMillis},
		{"web_search_requests", u.WebSearchRequests}, {"provider_cost_nano", u.ProviderCostNano},
	} {
		if f.c.OK {
			m[f.name] = f.c.N
		}
	}
	return m
}

func toResult(u *usage.Usage, ei ErrorInfo) result {
	return result{Usage: usageMap(u), Tier: u.Tier.String(), Source: u.Source.String(), Error: ei.Type.String(), Message: string(ei.Message)}
}

func loadGolden(t testing.TB, path string) golden {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("cannot parse golden %q: %v", path, err)
	}
	if g.Usage == nil {
		g.Usage = map[string]int64{}
	}
	return g
}

func (g golden) dialectCat(t testing.TB) (Dialect, usage.Category) {
	t.Helper()
	d, ok := ParseDialect(g.Dialect)
	if !ok {
		t.Fatalf("bad dialect %q", g.Dialect)
	}
	c, ok := usage.ParseCategory(g.Category)
	if !ok {
		t.Fatalf("bad category %q", g.Category)
	}
	return d, c
}

// eventName derives the SSE event name a .jsonl payload had, for dialects
// whose streams name their events (Anthropic, OpenAI Responses).
func eventName(d Dialect, cat usage.Category, line []byte) []byte {
	if d == Anthropic || (d == OpenAI && cat == usage.CategoryResponses) {
		return []byte(gjson.GetBytes(line, "type").Str)
	}
	return nil
}

// runFixture extracts usage from payload the way the proxy would for mode.
func runFixture(d Dialect, cat usage.Category, mode string, status int, payload []byte, chunks func([]byte) [][]byte) result {
	var u usage.Usage
	var ei ErrorInfo
	var st StreamState
	st.Reset(d, cat)
	switch mode {
	case "body":
		ei = ExtractBody(d, cat, status, payload, &u)
	case "sse":
		var sc SSEScanner
		fn := func(ev Event) { st.OnEvent(ev.Name, ev.Data) }
		for _, c := range chunks(payload) {
			sc.Feed(c, fn)
		}
		sc.Finish(fn)
		ei = st.Result(&u)
	case "jsonl":
		for _, line := range bytes.Split(payload, []byte("\n")) {
			st.OnEvent(eventName(d, cat, line), line)
		}
		ei = st.Result(&u)
	case "array":
		var as ArrayScanner
		for _, c := range chunks(payload) {
			as.Feed(c, func(elem []byte) { st.OnEvent(nil, elem) })
		}
		ei = st.Result(&u)
	}
	return toResult(&u, ei)
}

func whole(p []byte) [][]byte { return [][]byte{p} }

func TestFixtures(t *testing.T) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".want.json") {
			continue
		}
		wantPath := filepath.Join(fixtureDir, name+".want.json")
		if notPayloads[name] {
			if _, err := os.Stat(wantPath); err == nil {
				t.Errorf("%s is listed as not a payload but has a golden", name)
			}
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, wantPath)
			d, cat := g.dialectCat(t)
			payload, err := os.ReadFile(filepath.Join(fixtureDir, name))
			if err != nil {
				t.Fatal(err)
			}
			want := result{Usage: g.Usage, Tier: g.Tier, Source: g.Source, Error: g.Error, Message: g.Message}
			got := runFixture(d, cat, g.Mode, g.Status, payload, whole)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s\n got  %+v\n want %+v", g.Why, got, want)
			}
		})
	}
	if n != 42 {
		t.Fatalf("ran %d payload fixtures, want 42 (a fixture without a golden?)", n)
	}
}

// TestFixturesChunked feeds every stream fixture split at every byte into
// two chunks, and one byte at a time, and expects the whole-stream result.
// The scanner is the only chunk-sensitive part, so at every split it must
// yield exactly the events of the whole stream; the full extraction result
// is compared at every split for fixtures up to 8 KiB and at every 53rd
// split beyond (the larger fixtures would take minutes under -race).
func TestFixturesChunked(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.want.json"))
	for _, wp := range paths {
		g := loadGolden(t, wp)
		if g.Mode != "sse" && g.Mode != "array" {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(wp), ".want.json")
		t.Run(name, func(t *testing.T) {
			d, cat := g.dialectCat(t)
			payload, err := os.ReadFile(filepath.Join(fixtureDir, name))
			if err != nil {
				t.Fatal(err)
			}
			want := runFixture(d, cat, g.Mode, g.Status, payload, whole)
			if g.Mode == "sse" {
				checkSSESplits(t, payload)
			}
			for i := 0; i <= len(payload); i++ {
				if len(payload) > 8<<10 && i%53 != 0 {
					continue
				}
				split := func(p []byte) [][]byte { return [][]byte{p[:i:i], p[i:]} }
				if got := runFixture(d, cat, g.Mode, g.Status, payload, split); !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d: got %+v, want %+v", i, got, want)
				}
			}
			bytewise := func(p []byte) [][]byte {
				out := make([][]byte, len(p))
				for i := range p {
					out[i] = p[i : i+1 : i+1]
				}
				return out
			}
			if got := runFixture(d, cat, g.Mode, g.Status, payload, bytewise); !reflect.DeepEqual(got, want) {
				t.Fatalf("1-byte chunks: got %+v, want %+v", got, want)
			}
		})
	}
}

type ownedEvent struct{ name, data, raw string }

func collectEvents(chunks [][]byte) []ownedEvent {
	var sc SSEScanner
	var out []ownedEvent
	fn := func(ev Event) { out = append(out, ownedEvent{string(ev.Name), string(ev.Data), string(ev.Raw)}) }
	for _, c := range chunks {
		sc.Feed(c, fn)
	}
	sc.Finish(fn)
	return out
}

// checkSSESplits asserts that the scanner yields the same events for every
// two-chunk split of payload as for the whole of it.
func checkSSESplits(t *testing.T, payload []byte) {
	t.Helper()
	ref := collectEvents(whole(payload))
	var sc SSEScanner
	for i := 0; i <= len(payload); i++ {
		k := 0
		bad := false
		fn := func(ev Event) {
			if k >= len(ref) || string(ev.Name) != ref[k].name || string(ev.Data) != ref[k].data || string(ev.Raw) != ref[k].raw {
				bad = true
			}
			k++
		}
		sc.Reset()
		sc.Feed(payload[:i:i], fn)
		sc.Feed(payload[i:], fn)
		sc.Finish(fn)
		if bad || k != len(ref) {
			t.Fatalf("split at %d: events differ from the whole stream (%d events, want %d)", i, k, len(ref))
		}
	}
}

// TestFixturesRawConcat checks that the Raw of the events of every .sse
// fixture, concatenated, is the fixture byte for byte.
func TestFixturesRawConcat(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.sse"))
	if len(paths) != 12 {
		t.Fatalf("found %d .sse fixtures, want 12", len(paths))
	}
	for _, p := range paths {
		payload, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var sc SSEScanner
		var raw []byte
		fn := func(ev Event) { raw = append(raw, ev.Raw...) }
		sc.Feed(payload, fn)
		sc.Finish(fn)
		if !bytes.Equal(raw, payload) {
			t.Errorf("%s: Raw concatenation differs from the input", filepath.Base(p))
		}
	}
}

// TestGeminiArrayBody reads the JSON-array stream fixture whole through
// ExtractBody, as when a proxy buffers it.
func TestGeminiArrayBody(t *testing.T) {
	payload, err := os.ReadFile(filepath.Join(fixtureDir, "gemini_stream_json_array.json"))
	if err != nil {
		t.Fatal(err)
	}
	var u usage.Usage
	ei := ExtractBody(Gemini, usage.CategoryChatCompletions, 200, payload, &u)
	got := toResult(&u, ei)
	want := result{Usage: map[string]int64{"input": 11, "output": 293, "reasoning": 291}, Tier: "default", Source: "provider"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestGeminiCompatThroughGeminiDialect: unprefixed /v1beta/openai/... paths
// route to the gemini dialect but carry OpenAI bodies.
func TestGeminiCompatThroughGeminiDialect(t *testing.T) {
	payload, err := os.ReadFile(filepath.Join(fixtureDir, "gemini_openai_compat_chat.json"))
	if err != nil {
		t.Fatal(err)
	}
	cat := CategoryOf(Gemini, []byte("/v1beta/openai/chat/completions"))
	if cat != usage.CategoryChatCompletions {
		t.Fatalf("category %v", cat)
	}
	var u usage.Usage
	ei := ExtractBody(Gemini, cat, 200, payload, &u)
	got := toResult(&u, ei)
	want := result{Usage: map[string]int64{"input": 35, "output": 74}, Tier: "default", Source: "provider"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
