package alert

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseAndEval(t *testing.T) {
	v := map[string]float64{DailySpend: 150, ErrorRate: 4.5, Requests: 1000, P95LatencyMs: 900, MemberSpendPct: 80}
	cases := []struct {
		in, canon string
		want      bool
	}{
		{"daily_spend > 100", "daily_spend > 100", true},
		{"daily_spend>100", "daily_spend > 100", true},
		{"daily_spend < 100", "daily_spend < 100", false},
		{"daily_spend >= 150", "daily_spend >= 150", true},
		{"daily_spend <= 149.99", "daily_spend <= 149.99", false},
		{"member_spend_pct == 80", "member_spend_pct == 80", true},
		{"monthly_spend > -1", "monthly_spend > -1", true},
		{"error_rate > 5 || requests >= 1000", "error_rate > 5 || requests >= 1000", true},
		{"error_rate > 5 && requests >= 1000", "error_rate > 5 && requests >= 1000", false},
		// && binds tighter than ||.
		{"requests > 1 || error_rate > 5 && daily_spend > 1000", "requests > 1 || error_rate > 5 && daily_spend > 1000", true},
		{"(requests > 1 || error_rate > 5) && daily_spend > 1000", "(requests > 1 || error_rate > 5) && daily_spend > 1000", false},
		{"((daily_spend > 100))", "daily_spend > 100", true},
		{"p95_latency_ms > 800 && (avg_latency_ms > 1 || tokens < 10)", "p95_latency_ms > 800 && (avg_latency_ms > 1 || tokens < 10)", true},
		{"hourly_spend > 0.0010", "hourly_spend > 0.001", false},
		{"daily_spend > 1 && (requests > 1 && error_rate > 1)", "daily_spend > 1 && requests > 1 && error_rate > 1", true},
	}
	for _, c := range cases {
		cond, err := Parse(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := cond.String(); got != c.canon {
			t.Errorf("%q: canonical %q, want %q", c.in, got, c.canon)
		}
		if got := cond.Eval(v); got != c.want {
			t.Errorf("%q: %v, want %v", c.in, got, c.want)
		}
	}
	cond, _ := Parse("error_rate > 5 || requests > 1 && error_rate < 2 || daily_spend > 0")
	if got := strings.Join(cond.Metrics(), ","); got != "error_rate,requests,daily_spend" {
		t.Fatalf("metrics %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", `condition: at column 1: expected a metric or "(", got the end of the condition`},
		{"daily_spend >", `condition: at column 14: expected a number after ">", got the end of the condition`},
		{"daily_spend > abc", `condition: at column 15: expected a number after ">", got "abc"`},
		{"daily_spend 100", `condition: at column 13: expected an operator (>, <, >=, <=, ==) after "daily_spend", got "100"`},
		{"daily_spend = 100", `condition: at column 13: "=" is not an operator; use "=="`},
		{"daily_spend > 1 & requests > 1", `condition: at column 17: "&" is not an operator; use "&&"`},
		{"daily_spend > 1 | requests > 1", `condition: at column 17: "|" is not an operator; use "||"`},
		{"cost > 1", `condition: at column 1: unknown metric "cost"; one of daily_spend, monthly_spend, hourly_spend, requests, tokens, error_rate, avg_latency_ms, p95_latency_ms, member_spend_pct`},
		{"daily_spend > 1 requests > 1", `condition: at column 17: expected "&&", "||" or the end, got "requests"`},
		{"(daily_spend > 1", `condition: at column 17: expected ")" to close the "(" at column 1, got the end of the condition`},
		{"daily_spend > 1)", `condition: at column 16: expected "&&", "||" or the end, got ")"`},
		{"daily_spend > 1 &&", `condition: at column 19: expected a metric or "(", got the end of the condition`},
		{"daily_spend > 1.2.3", `condition: at column 15: "1.2.3" is not a number`},
		{"daily_spend > -", `condition: at column 15: "-" is not a number`},
		{"dailý > 1", `condition: at column 5: unexpected character 'ý'`},
		{"é > 1 && x", `condition: at column 1: unexpected character 'é'`},
		{"daily_spend > 1" + strings.Repeat("9", 400), `condition: at column 15: number 1` + strings.Repeat("9", 400) + ` is out of range`},
		{strings.Repeat("(", 40) + "daily_spend > 1" + strings.Repeat(")", 40), `condition: at column 33: parentheses nested deeper than 32`},
		{strings.Repeat(" ", 1001), `condition: at column 1001: longer than 1000 characters`},
		{"daily_spend > 1 \xff", `condition: at column 1: not valid UTF-8`},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q:\n got %v\nwant %s", c.in, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"daily_spend > 100", "monthly_spend >= 1000 && error_rate > 5", "hourly_spend > 1 || requests > 100",
		"(tokens > 1000000 || p95_latency_ms > 2000) && avg_latency_ms <= 500", "member_spend_pct == 100",
		"daily_spend > -0.5", "error_rate>5&&requests>=100", "daily_spend >", "((requests > 1)", "x = 1",
	} {
		f.Add(s)
	}
	values := map[string]float64{DailySpend: 100, ErrorRate: 5, Requests: 100, Tokens: 1e6, MemberSpendPct: 100}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			se, ok := err.(*SyntaxError)
			if !ok || se.Col < 1 || !strings.HasPrefix(err.Error(), "condition: at column ") {
				t.Fatalf("%q: error %v", s, err)
			}
			if utf8.ValidString(s) && se.Col > utf8.RuneCountInString(s)+1 {
				t.Fatalf("%q: column %d beyond the end", s, se.Col)
			}
			return
		}
		canon := c.String()
		if utf8.RuneCountInString(canon) > MaxConditionLen {
			return
		}
		c2, err := Parse(canon)
		if err != nil {
			t.Fatalf("%q: canonical %q does not parse: %v", s, canon, err)
		}
		if c2.String() != canon || c2.Eval(values) != c.Eval(values) {
			t.Fatalf("%q: canonical %q does not round-trip", s, canon)
		}
		if len(c.Metrics()) == 0 {
			t.Fatalf("%q: no metrics", s)
		}
	})
}
