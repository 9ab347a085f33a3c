package feed

import (
	"math"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

func TestAppendUSD(t *testing.T) {
	f := func(n int64, want string) {
		t.Helper()
		if got := string(appendUSD(nil, n)); got != want {
			t.Fatalf("%d: %s, want %s", n, got, want)
		}
	}
	f(0, "0")
	f(1, "0.000000001")
	f(210_000, "0.00021")
	f(1_000_000_000, "1")
	f(1_000_000_001, "1.000000001")
	f(-1_500_000_000, "-1.5")
	f(math.MaxInt64, "9223372036.854775807")
	f(math.MinInt64, "-9223372036.854775808")
}

func TestAppendString(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(appendString(nil, in)); got != want {
			t.Fatalf("%q: %s, want %s", in, got, want)
		}
	}
	f("", `""`)
	f("plain", `"plain"`)
	f("q\"b\\s/", `"q\"b\\s/"`)
	f("\n\r\t\x00\x1f", `"\n\r\t\u0000\u001f"`)
	f("é€😀", `"é€😀"`)
	f("a\xffb", `"a\ufffdb"`)
	f("\u2028\u2029", `"\u2028\u2029"`)
}

// FuzzAppendString: the output is valid JSON that decodes to the input
// with each invalid UTF-8 byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\x7f\x80", "\u2028x", "é\xc3", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %s: %s", s, b, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("%q: decoded %q, want %q", s, got, want)
		}
	})
}

// FuzzEvents: request, error, warning and cost_update events are valid JSON
// whose fields read back exactly, whatever the strings and amounts.
func FuzzEvents(f *testing.F) {
	f.Add("acme", "bob", "openai/gpt-4o-mini", "Rate limit", int64(210_000), int64(1234567))
	f.Add("", "", "", "\"\\\n\xff", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, org, user, model, msg string, cost, latency int64) {
		ev := &meter.Event{ID: 7, Time: testNow.UnixNano(), Org: org, User: user, Model: model, Status: 200,
			CostNano: cost, LatencyMicros: latency, ErrorMessage: msg}
		check := func(b []byte, fields ...string) {
			t.Helper()
			if !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
			j := gjson.ParseBytes(b)
			for i := 0; i < len(fields); i += 2 {
				if got := j.Get(fields[i]).String(); got != fields[i+1] {
					t.Fatalf("%s: %q, want %q in %s", fields[i], got, fields[i+1], b)
				}
			}
		}
		usd := string(appendUSD(nil, cost))
		v := func(s string) string { return string([]rune(s)) }
		check(appendRequest(nil, ev), "org_id", v(org), "user_id", v(user), "model", v(model))
		if got := gjson.GetBytes(appendRequest(nil, ev), "cost_usd").Raw; got != usd {
			t.Fatalf("cost %s, want %s", got, usd)
		}
		ev.ErrorType = usage.ErrOther
		check(appendError(nil, ev), "message", v(msg), "error_type", "other")
		w := warning{org: org, user: user, pct: 80, spend: cost, limit: latency, time: ev.Time}
		check(appendWarning(nil, &w), "org_id", v(org), "user_id", v(user))
		check(appendCostUpdate(nil, org, user, totals{todayNano: cost}, time.Unix(0, 0)), "org_id", v(org), "today.cost_usd", gjson.Parse(usd).String())
	})
}
