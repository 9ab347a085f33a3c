package alert

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Metrics a condition may use. Spend is in USD, error_rate in percent
// (0..100), latencies in milliseconds, member_spend_pct in percent of the
// member's monthly limit. See Values for each metric's window.
const (
	DailySpend     = "daily_spend"
	MonthlySpend   = "monthly_spend"
	HourlySpend    = "hourly_spend"
	Requests       = "requests"
	Tokens         = "tokens"
	ErrorRate      = "error_rate"
	AvgLatencyMs   = "avg_latency_ms"
	P95LatencyMs   = "p95_latency_ms"
	MemberSpendPct = "member_spend_pct"
)

// MetricNames lists every metric, in the order the docs give them.
var MetricNames = []string{DailySpend, MonthlySpend, HourlySpend, Requests, Tokens, ErrorRate, AvgLatencyMs, P95LatencyMs, MemberSpendPct}

// Bounds of a condition.
const (
	MaxConditionLen = 1000
	maxDepth        = 32
)

// Condition is a parsed alert condition: comparisons of metrics with
// numbers joined by && and || (&& binds tighter), with parentheses.
// Immutable and safe for concurrent use.
type Condition struct {
	root node
}

// node is a comparison (op != "" && metric != "") or a junction.
type node struct {
	metric string
	op     string
	value  float64
	// and, or: the operands of a junction; junction is "&&" or "||".
	junction string
	kids     []node
}

// SyntaxError is a condition that does not parse; Col is 1-based, in
// characters.
type SyntaxError struct {
	Col int
	Msg string
}

// Error says where: `condition: at column 13: expected a number after ">"`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("condition: at column %d: %s", e.Col, e.Msg)
}

// Parse parses a condition such as "daily_spend > 100 && error_rate >= 5".
// Errors are *SyntaxError.
func Parse(s string) (*Condition, error) {
	if !utf8.ValidString(s) {
		return nil, &SyntaxError{Col: 1, Msg: "not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(s); n > MaxConditionLen {
		return nil, &SyntaxError{Col: MaxConditionLen + 1, Msg: fmt.Sprintf("longer than %d characters", MaxConditionLen)}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEnd {
		return nil, p.errAt(t, fmt.Sprintf(`expected "&&", "||" or the end, got %s`, t.shown()))
	}
	return &Condition{root: root}, nil
}

// Eval reports whether the condition holds for values (a missing metric
// is 0).
func (c *Condition) Eval(values map[string]float64) bool { return eval(&c.root, values) }

func eval(n *node, v map[string]float64) bool {
	switch n.junction {
	case "&&":
		for i := range n.kids {
			if !eval(&n.kids[i], v) {
				return false
			}
		}
		return true
	case "||":
		for i := range n.kids {
			if eval(&n.kids[i], v) {
				return true
			}
		}
		return false
	}
	x := v[n.metric]
	switch n.op {
	case ">":
		return x > n.value
	case "<":
		return x < n.value
	case ">=":
		return x >= n.value
	case "<=":
		return x <= n.value
	default: // "=="
		return x == n.value
	}
}

// Metrics returns the distinct metrics of the condition in order of first
// appearance.
func (c *Condition) Metrics() []string {
	var out []string
	var walk func(n *node)
	walk = func(n *node) {
		if n.junction == "" {
			for _, m := range out {
				if m == n.metric {
					return
				}
			}
			out = append(out, n.metric)
			return
		}
		for i := range n.kids {
			walk(&n.kids[i])
		}
	}
	walk(&c.root)
	return out
}

// String renders the condition canonically: single spaces, parentheses
// only where needed, numbers in their shortest form. Parse(c.String())
// gives an equal condition.
func (c *Condition) String() string {
	var b strings.Builder
	write(&b, &c.root, "")
	return b.String()
}

func write(b *strings.Builder, n *node, parent string) {
	if n.junction == "" {
		b.WriteString(n.metric)
		b.WriteByte(' ')
		b.WriteString(n.op)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(n.value, 'f', -1, 64))
		return
	}
	paren := parent == "&&" && n.junction == "||"
	if paren {
		b.WriteByte('(')
	}
	for i := range n.kids {
		if i > 0 {
			b.WriteString(" " + n.junction + " ")
		}
		write(b, &n.kids[i], n.junction)
	}
	if paren {
		b.WriteByte(')')
	}
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEnd {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, msg string) error { return &SyntaxError{Col: t.col, Msg: msg} }

// or := and ("||" and)*
func (p *parser) or(depth int) (node, error) {
	return p.junction(depth, "||", p.and)
}

// and := primary ("&&" primary)*
func (p *parser) and(depth int) (node, error) {
	return p.junction(depth, "&&", p.primary)
}

func (p *parser) junction(depth int, op string, operand func(int) (node, error)) (node, error) {
	first, err := operand(depth)
	if err != nil {
		return node{}, err
	}
	kids := []node{first}
	for p.peek().kind == tJoin && p.peek().text == op {
		p.next()
		k, err := operand(depth)
		if err != nil {
			return node{}, err
		}
		kids = append(kids, k)
	}
	if len(kids) == 1 {
		return first, nil
	}
	// Flatten same-junction children: (a && b) && c is a && b && c.
	var flat []node
	for _, k := range kids {
		if k.junction == op {
			flat = append(flat, k.kids...)
		} else {
			flat = append(flat, k)
		}
	}
	return node{junction: op, kids: flat}, nil
}

// primary := "(" or ")" | metric op number
func (p *parser) primary(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tOpen:
		if depth >= maxDepth {
			return node{}, p.errAt(t, fmt.Sprintf("parentheses nested deeper than %d", maxDepth))
		}
		n, err := p.or(depth + 1)
		if err != nil {
			return node{}, err
		}
		if c := p.next(); c.kind != tClose {
			return node{}, p.errAt(c, fmt.Sprintf(`expected ")" to close the "(" at column %d, got %s`, t.col, c.shown()))
		}
		return n, nil
	case tIdent:
		if !slices.Contains(MetricNames, t.text) {
			return node{}, p.errAt(t, fmt.Sprintf("unknown metric %q; one of %s", t.text, strings.Join(MetricNames, ", ")))
		}
		op := p.next()
		if op.kind != tCmp {
			return node{}, p.errAt(op, fmt.Sprintf(`expected an operator (>, <, >=, <=, ==) after %q, got %s`, t.text, op.shown()))
		}
		num := p.next()
		if num.kind != tNumber {
			return node{}, p.errAt(num, fmt.Sprintf(`expected a number after %q, got %s`, op.text, num.shown()))
		}
		v, err := strconv.ParseFloat(num.text, 64)
		if err != nil {
			return node{}, p.errAt(num, fmt.Sprintf("number %s is out of range", num.text))
		}
		return node{metric: t.text, op: op.text, value: v}, nil
	default:
		return node{}, p.errAt(t, fmt.Sprintf(`expected a metric or "(", got %s`, t.shown()))
	}
}
