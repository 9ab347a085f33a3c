package report

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infermeter/infermeter/api/report/reporttest"
)

func TestWriteInvoicePDF(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := func(name string, inv *Invoice, want []string, pages int) {
		t.Helper()
		var buf bytes.Buffer
		if err := WriteInvoicePDF(&buf, inv, now); err != nil {
			t.Fatalf("%s: %s", name, err)
		}
		text, err := reporttest.Text(buf.Bytes())
		if err != nil {
			t.Fatalf("%s: %s", name, err)
		}
		for _, w := range want {
			if !slices.Contains(text, w) {
				t.Errorf("%s: %q not shown in %q", name, w, text)
			}
		}
		footer := fmt.Sprintf("%s - page %d of %d", inv.Number, pages, pages)
		if !slices.Contains(text, footer) {
			t.Errorf("%s: no %q in %q", name, footer, text[len(text)-1])
		}
		if i := slices.Index(text, "Total"); i < 0 || text[i+1] != USD(inv.TotalNano) {
			t.Errorf("%s: the total is not shown after \"Total\"", name)
		}
		var again bytes.Buffer
		if err := WriteInvoicePDF(&again, inv, now); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
			t.Errorf("%s: two renderings differ", name)
		}
	}
	f("empty", &Invoice{Number: "ACME-2026-0003", Org: "Acme", Period: "2026-08-01 to 2026-08-31", Timezone: "UTC", GroupBy: "department"},
		[]string{"Invoice ACME-2026-0003", "No usage in this period", "None", "$0.00"}, 1)

	inv := &Invoice{
		Number: "ACME-2026-0001", Org: "Acme Größe", Period: "2026-11-01 to 2026-11-30", Timezone: "Europe/Berlin",
		GroupBy: "department", Generated: "2026-12-01 10:00 CET",
		Lines: []InvoiceLine{
			{Group: "", Model: "openai/gpt-4o-mini", BillingMode: "org_pays", Requests: 3, InputTokens: 3000, OutputTokens: 300, CostNano: 630_000},
			{Group: "research", Model: "anthropic/claude-haiku-4-5-a-very-long-model-name-that-does-not-fit", BillingMode: "member_pays", Requests: 1234, InputTokens: 1_234_567, OutputTokens: 7, CachedTokens: 400, CostNano: 1_234_567_890_123},
		},
		Subtotals:   []InvoiceSubtotal{{Group: "", Requests: 3, CostNano: 630_000}, {Group: "research", Requests: 1234, CostNano: 1_234_567_890_123}},
		OrgPaysNano: 630_000, MemberPaysNano: 1_234_567_890_123, TotalNano: 1_234_568_520_123,
	}
	f("lines", inv, []string{"Invoice ACME-2026-0001", "Acme Größe", "2026-11-01 to 2026-11-30", "Europe/Berlin", "(none)",
		"1,234,567", "$1,234.567890123", "$0.00063", "$1,234.568520123", "Paid by members (member_pays)"}, 1)

	// Many lines run over several pages; every one is shown.
	many := &Invoice{Number: "ACME-2026-0009", Org: "Acme", Period: "2026-01-01 to 2026-12-31", Timezone: "UTC", GroupBy: "user"}
	var want []string
	for i := range 150 {
		g := fmt.Sprintf("member-%03d@acme.example", i)
		many.Lines = append(many.Lines, InvoiceLine{Group: g, Model: "openai/gpt-4o", BillingMode: "org_pays", Requests: 1, CostNano: int64(i)})
		many.Subtotals = append(many.Subtotals, InvoiceSubtotal{Group: g, Requests: 1, CostNano: int64(i)})
		many.TotalNano += int64(i)
		want = append(want, g)
	}
	many.OrgPaysNano = many.TotalNano
	f("many", many, want, 8)
	// Control characters are shown as spaces.
	f("control", &Invoice{Number: "X-1", Org: "a\x00b", Lines: []InvoiceLine{{Group: "x\ny", CostNano: 1}}, TotalNano: 1}, []string{"a b", "x y"}, 1)
	if strings.Contains(USD(1), "e") {
		t.Fatal("USD in exponent form")
	}
}

// TestFitCellShrinksLongValues: an amount or count wider than its column
// is drawn at a smaller size that fits, never cut; one that fits keeps the
// table's size; an absurd one stops at minFitSize.
func TestFitCellShrinksLongValues(t *testing.T) {
	p := newPDF("fit", time.Unix(0, 0))
	for _, c := range []struct {
		s    string
		col  int
		want string // "same" or "smaller"
	}{
		{USD(630_000), 7, "same"},
		{Int(1234), 3, "same"},
		{USD(1_234_567_890_123), 7, "smaller"},
		{USD(-98_765_432_198_765), 7, "smaller"},
		{Int(-9_223_372_036_854_775_807), 3, "smallest"},
		{Int(9_876_543_210_987), 4, "smaller"},
	} {
		p.font("", 8)
		w := invoiceColumns[c.col] - 2*cellPad
		fs := p.fitSize(c.s, w)
		switch {
		case c.want == "same" && fs != 8:
			t.Errorf("%s in column %d: size %v, want 8", c.s, c.col, fs)
		case c.want == "smaller" && (fs >= 8 || fs <= minFitSize):
			t.Errorf("%s in column %d: size %v, want below 8", c.s, c.col, fs)
		case c.want == "smallest":
			if fs != minFitSize {
				t.Errorf("%s in column %d: size %v, want the smallest, %v", c.s, c.col, fs, minFitSize)
			}
			continue // wider than the column even then
		}
		p.font("", fs)
		if got := p.width(c.s); got > w {
			t.Errorf("%s at %vpt is %.2f mm wide, the column %.2f mm", c.s, fs, got, w)
		}
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
}
