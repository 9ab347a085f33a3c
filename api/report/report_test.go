package report_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/api/report/reporttest"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
)

func TestUSD(t *testing.T) {
	f := func(nano int64, want string) {
		t.Helper()
		if got := report.USD(nano); got != want {
			t.Errorf("USD(%d) = %q, want %q", nano, got, want)
		}
	}
	f(0, "$0.00")
	f(1, "$0.000000001")
	f(4_027_000, "$0.004027")
	f(10_000_000, "$0.01")
	f(1_500_000_000, "$1.50")
	f(3e9, "$3.00")
	f(1_234_567_890_123, "$1,234.567890123")
	f(999_999e9, "$999,999.00")
	f(1_000_000e9, "$1,000,000.00")
	f(-3e9, "-$3.00")
	f(-1<<63, "-$9,223,372,036.854775808")
}

func TestInt(t *testing.T) {
	f := func(n int64, want string) {
		t.Helper()
		if got := report.Int(n); got != want {
			t.Errorf("Int(%d) = %q, want %q", n, got, want)
		}
	}
	f(0, "0")
	f(999, "999")
	f(1000, "1,000")
	f(5140, "5,140")
	f(1_000_000, "1,000,000")
	f(-1234, "-1,234")
}

func TestPercent(t *testing.T) {
	f := func(part, whole int64, want string) {
		t.Helper()
		if got := report.Percent(part, whole); got != want {
			t.Errorf("Percent(%d, %d) = %q, want %q", part, whole, got, want)
		}
	}
	f(0, 0, "0.00%")
	f(1, 0, "0.00%")
	f(1, 6, "16.67%")
	f(1, 3, "33.33%")
	f(2, 3, "66.67%")
	f(1, 8, "12.50%")
	f(1, 200000, "0.00%")
	f(1, 20000, "0.01%") // 0.005% rounds half up
	f(5, 5, "100.00%")
	f(1<<62, 1<<62, "100.00%")
}

// sampleUsage is a report with every part filled.
func sampleUsage() *report.Usage {
	return &report.Usage{
		Org:        "Acme (Zürich)",
		Period:     "2026-11-01 to 2026-11-30 (Europe/Berlin)",
		Generated:  "2026-11-15 12:00 CET",
		Overview:   report.Overview{Requests: 1234, InputTokens: 5140, OutputTokens: 850, CachedTokens: 1400, ReasoningTokens: 20, CostNano: 4_027_000, Errors: 1, AvgLatencyMs: 3, ActiveMembers: 2},
		ChartTitle: "Cost per day (USD)",
		Bars:       []report.Bar{{"2026-11-01", 1_000_000}, {"2026-11-02", 0}, {"2026-11-03", 3_027_000}},
		TopMembers: []report.Line{{"alice@acme.example", 1000, 5000, 3_027_000}, {"bob@acme.example", 234, 990, 1_000_000}},
		TopModels:  []report.Line{{"openai/gpt-4o-mini", 1234, 5990, 4_027_000}},
		TopDepartments: []report.Line{
			{"research (a \\ b)", 1000, 5000, 3_027_000},
			{"platform\x00ops", 234, 990, 1_000_000},
		},
	}
}

// TestUsagePDF writes a report and reads its text back: every number as
// formatted, in reading order.
func TestUsagePDF(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 15, 11, 0, 0, 0, time.UTC)
	if err := report.WriteUsagePDF(&buf, sampleUsage(), now); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("alice@acme.example")) {
		t.Fatal("the content streams are not compressed")
	}
	text, err := reporttest.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Acme (Zürich) usage report",
		"Period: 2026-11-01 to 2026-11-30 (Europe/Berlin)",
		"Generated: 2026-11-15 12:00 CET",
		"Overview",
		"Requests", "1,234", "Total cost", "$0.004027",
		"Input tokens", "5,140", "Output tokens", "850",
		"Cached tokens", "1,400", "Reasoning tokens", "20",
		"Active members", "2", "Errors", "1",
		"Error rate", "0.08%", "Avg latency", "3 ms",
		"Cost per day (USD)",
		"$0.00", "$0.0015135", "$0.003027",
		"2026-11-01", "2026-11-02", "2026-11-03",
		"Top members", "Member", "Requests", "Tokens", "Cost", "Share",
		"alice@acme.example", "1,000", "5,000", "$0.003027", "75.17%",
		"bob@acme.example", "234", "990", "$0.001", "24.83%",
		"Top models", "Model", "Requests", "Tokens", "Cost", "Share",
		"openai/gpt-4o-mini", "1,234", "5,990", "$0.004027", "100.00%",
		"Top departments", "Department", "Requests", "Tokens", "Cost", "Share",
		"research (a \\ b)", "1,000", "5,000", "$0.003027", "75.17%",
		"platform ops", "234", "990", "$0.001", "24.83%",
		"Page 1 of 1",
	}
	if !slices.Equal(text, want) {
		t.Fatalf("text:\n%q\nwant:\n%q", text, want)
	}

	// The same input and clock give the same bytes.
	var again bytes.Buffer
	if err := report.WriteUsagePDF(&again, sampleUsage(), now); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("two writes of the same report differ")
	}

	// A cut file is refused.
	if _, err := reporttest.Text(buf.Bytes()[:buf.Len()-10]); !errors.Is(err, reporttest.ErrStructure) {
		t.Fatalf("truncated: %v", err)
	}
}

// TestUsagePDFLong checks that long tables flow onto more pages, long names
// are shortened and an all-zero chart says so.
func TestUsagePDFLong(t *testing.T) {
	u := &report.Usage{Org: "Acme", Overview: report.Overview{Requests: 3}}
	for i := range 40 {
		u.Bars = append(u.Bars, report.Bar{Label: "d" + string(rune('a'+i%26))})
		u.TopMembers = append(u.TopMembers, report.Line{Name: strings.Repeat("m", 100), Requests: 1})
	}
	var buf bytes.Buffer
	if err := report.WriteUsagePDF(&buf, u, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	text, err := reporttest.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(text, "|")
	for _, s := range []string{"No cost in this period", "Page 1 of 2", "Page 2 of 2", "|None|"} {
		if !strings.Contains(joined, s) {
			t.Errorf("no %q in %q", s, joined)
		}
	}
	short := 0
	for _, s := range text {
		if strings.HasPrefix(s, "mmm") {
			if !strings.HasSuffix(s, "...") || len(s) >= 100 {
				t.Fatalf("a long name is not shortened: %q", s)
			}
			short++
		}
	}
	if short != 40 {
		t.Fatalf("%d member lines, want 40", short)
	}
}

// TestPDFCharacters checks what the embedded Go fonts show: Latin, Greek and
// Cyrillic as written, characters they lack as U+FFFD, control characters
// as spaces; a long name is shortened by whole characters.
func TestPDFCharacters(t *testing.T) {
	u := &report.Usage{
		Org: "Zürich Łódź Ελλάδα Москва 東京 \U0001F600 a\u00a0b\tc\u0085d\xff",
		TopMembers: []report.Line{
			{Name: strings.Repeat("ü", 100)},
			{Name: "東京 " + strings.Repeat("Ж", 100)},
		},
	}
	var buf bytes.Buffer
	if err := report.WriteUsagePDF(&buf, u, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	text, err := reporttest.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Zürich Łódź Ελλάδα Москва \uFFFD\uFFFD \uFFFD a\u00a0b c d\uFFFD usage report",
		strings.Repeat("ü", 41) + "...", // 76 mm at 9 pt,
		"\uFFFD\uFFFD " + strings.Repeat("Ж", 22) + "...",
	}
	if text[0] != want[0] {
		t.Errorf("title %q, want %q", text[0], want[0])
	}
	for _, w := range want[1:] {
		if !slices.Contains(text, w) {
			t.Errorf("no %q in %q", w, text)
		}
	}
}

// TestPDFEveryCharacter writes every character of the Basic Multilingual
// Plane and a few beyond, in the bold font (the title) and the regular one
// (the period), and reads them back: the characters the font has as
// written (each has its own glyph), control characters as spaces, the
// others as U+FFFD.
func TestPDFEveryCharacter(t *testing.T) {
	var all []rune
	for r := rune(0); r <= 0x10FFFF; r++ {
		if r <= 0xFFFF && (r < 0xD800 || r > 0xDFFF) || r == 0x10000 || r == 0x1F600 || r == 0x10FFFF {
			all = append(all, r)
		}
	}
	shown := func(ttf []byte) string {
		t.Helper()
		f, err := sfnt.Parse(ttf)
		if err != nil {
			t.Fatal(err)
		}
		var buf sfnt.Buffer
		out := make([]rune, len(all))
		for i, r := range all {
			g, err := f.GlyphIndex(&buf, r)
			switch {
			case r < 0x20 || r >= 0x7f && r < 0xa0:
				out[i] = ' '
			case err != nil || g == 0:
				out[i] = '\uFFFD'
			default:
				out[i] = r
			}
		}
		return string(out)
	}
	u := &report.Usage{Org: string(all), Period: string(all)}
	var buf bytes.Buffer
	if err := report.WriteUsagePDF(&buf, u, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	text, err := reporttest.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if want := shown(gobold.TTF) + " usage report"; text[0] != want {
		t.Errorf("bold: %q", text[0])
	}
	if want := "Period: " + shown(goregular.TTF); text[1] != want {
		t.Errorf("regular: %q", text[1])
	}
}
