package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"time"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/meter/account"
)

// invoiceAnswer is the JSON answer of the generate and get routes.
type invoiceAnswer struct {
	Success bool        `json:"success"`
	Invoice invoiceView `json:"invoice"`
}

// invoiceView is an invoice as the API shows it: money as exact USD
// numbers.
type invoiceView struct {
	ID          string     `json:"id"`
	Number      string     `json:"number"`
	OrgID       string     `json:"org_id"`
	OrgName     string     `json:"org_name"`
	PeriodStart string     `json:"period_start"`
	PeriodEnd   string     `json:"period_end"`
	Period      periodJSON `json:"period"`
	Timezone    string     `json:"timezone"`
	GroupBy     string     `json:"group_by"`
	Currency    string     `json:"currency"`
	GeneratedAt string     `json:"generated_at"`
	Lines       []lineView `json:"lines"`
	// Subtotals is each group's cost; Groups the same with the counts,
	// in the order of the lines.
	Subtotals    map[string]USD `json:"subtotals"`
	Groups       []groupView    `json:"groups"`
	Requests     int64          `json:"requests"`
	InputTokens  int64          `json:"input_tokens"`
	OutputTokens int64          `json:"output_tokens"`
	OrgPays      USD            `json:"org_pays"`
	MemberPays   USD            `json:"member_pays"`
	Total        USD            `json:"total"`
}

// lineView is one line of an invoice as shown.
type lineView struct {
	Group            string `json:"group"`
	Email            string `json:"email,omitempty"`
	Model            string `json:"model"`
	BillingMode      string `json:"billing_mode"`
	Requests         int64  `json:"requests"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	CostUSD          USD    `json:"cost_usd"`
}

// groupView is the subtotal of one group as shown.
type groupView struct {
	Group            string `json:"group"`
	Email            string `json:"email,omitempty"`
	Requests         int64  `json:"requests"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	CostUSD          USD    `json:"cost_usd"`
}

// invoiceSummary is one invoice of the list route.
type invoiceSummary struct {
	ID          string `json:"id"`
	Number      string `json:"number"`
	OrgID       string `json:"org_id"`
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Timezone    string `json:"timezone"`
	GroupBy     string `json:"group_by"`
	GeneratedAt string `json:"generated_at"`
	Lines       int    `json:"lines"`
	Requests    int64  `json:"requests"`
	OrgPays     USD    `json:"org_pays"`
	MemberPays  USD    `json:"member_pays"`
	Total       USD    `json:"total"`
}

// invoiceList is the answer of the list route.
type invoiceList struct {
	Success  bool             `json:"success"`
	Invoices []invoiceSummary `json:"invoices"`
}

// view returns the invoice as the API shows it.
func (inv *invoice) view() invoiceView {
	v := invoiceView{
		ID:           inv.ID,
		Number:       inv.Number,
		OrgID:        inv.OrgID,
		OrgName:      inv.OrgName,
		PeriodStart:  inv.PeriodStart,
		PeriodEnd:    inv.PeriodEnd,
		Period:       periodJSON{Start: inv.Start, End: inv.End, Timezone: inv.Timezone},
		Timezone:     inv.Timezone,
		GroupBy:      inv.GroupBy,
		Currency:     "USD",
		GeneratedAt:  inv.GeneratedAt,
		Lines:        make([]lineView, 0, len(inv.Lines)),
		Subtotals:    make(map[string]USD, len(inv.Groups)),
		Groups:       make([]groupView, 0, len(inv.Groups)),
		Requests:     inv.Totals.Requests,
		InputTokens:  inv.Totals.InputTokens,
		OutputTokens: inv.Totals.OutputTokens,
		OrgPays:      USD(inv.OrgPaysNano),
		MemberPays:   USD(inv.MemberPaysNano),
		Total:        USD(inv.Totals.CostNano),
	}
	for _, l := range inv.Lines {
		v.Lines = append(v.Lines, lineView{
			Group: l.Group, Email: l.Email, Model: l.Model, BillingMode: l.BillingMode,
			Requests: l.Requests, InputTokens: l.InputTokens, OutputTokens: l.OutputTokens,
			CachedTokens: l.CachedTokens, CacheWriteTokens: l.CacheWriteTokens, ReasoningTokens: l.ReasoningTokens,
			CostUSD: USD(l.CostNano),
		})
	}
	for _, g := range inv.Groups {
		v.Subtotals[g.Group] = USD(g.CostNano)
		v.Groups = append(v.Groups, groupView{
			Group: g.Group, Email: g.Email,
			Requests: g.Requests, InputTokens: g.InputTokens, OutputTokens: g.OutputTokens,
			CachedTokens: g.CachedTokens, CacheWriteTokens: g.CacheWriteTokens, ReasoningTokens: g.ReasoningTokens,
			CostUSD: USD(g.CostNano),
		})
	}
	return v
}

// summary returns the invoice's entry of the list route.
func (inv *invoice) summary() invoiceSummary {
	return invoiceSummary{
		ID:          inv.ID,
		Number:      inv.Number,
		OrgID:       inv.OrgID,
		PeriodStart: inv.PeriodStart,
		PeriodEnd:   inv.PeriodEnd,
		Timezone:    inv.Timezone,
		GroupBy:     inv.GroupBy,
		GeneratedAt: inv.GeneratedAt,
		Lines:       len(inv.Lines),
		Requests:    inv.Totals.Requests,
		OrgPays:     USD(inv.OrgPaysNano),
		MemberPays:  USD(inv.MemberPaysNano),
		Total:       USD(inv.Totals.CostNano),
	}
}

// invoiceCSVColumns is the header row of an invoice's CSV. The kind column
// tells the rows apart: "line" (group × model × billing mode), "subtotal"
// (a group), then "org_pays", "member_pays" and "total".
var invoiceCSVColumns = []string{
	"kind", "group", "email", "model", "billing_mode", "requests", "input_tokens", "output_tokens",
	"cached_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
}

// csv renders the invoice as CSV: the header, a row a line, a row a group,
// then the split and the total. Money is an exact decimal of USD with at
// least two decimals; text a spreadsheet could take for a formula gets a
// leading apostrophe (csvText).
func (inv *invoice) csv() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	row := func(kind string, l *invoiceLine) error {
		return w.Write([]string{
			kind, csvText(l.Group), csvText(l.Email), csvText(l.Model), csvText(l.BillingMode),
			i64(l.Requests), i64(l.InputTokens), i64(l.OutputTokens),
			i64(l.CachedTokens), i64(l.CacheWriteTokens), i64(l.ReasoningTokens), usdDecimal(l.CostNano),
		})
	}
	err := w.Write(invoiceCSVColumns)
	for i := range inv.Lines {
		if err == nil {
			err = row("line", &inv.Lines[i])
		}
	}
	for i := range inv.Groups {
		if err == nil {
			err = row("subtotal", &inv.Groups[i])
		}
	}
	var orgPays, memberPays invoiceLine
	for i := range inv.Lines {
		if l := &inv.Lines[i]; l.BillingMode == account.MemberPays {
			memberPays.add(l)
		} else {
			orgPays.add(l)
		}
	}
	if err == nil {
		err = row("org_pays", &orgPays)
	}
	if err == nil {
		err = row("member_pays", &memberPays)
	}
	if err == nil {
		err = row("total", &inv.Totals)
	}
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write invoice %q as CSV: %w", inv.Number, err)
	}
	return buf.Bytes(), nil
}

// usdDecimal renders nano-dollars as an exact decimal number of USD with
// at least two decimals and at most nine ("0.00021", "3.00", "-1.50").
func usdDecimal(nano int64) string {
	b := AppendUSD(nil, nano)
	dot := bytes.IndexByte(b, '.')
	if dot < 0 {
		return string(b) + ".00"
	}
	if len(b)-dot-1 < 2 {
		b = append(b, '0')
	}
	return string(b)
}

// pdf renders the invoice as a PDF document. The document is stamped with
// the time the invoice was generated, so an invoice always renders to the
// same bytes.
func (inv *invoice) pdf() ([]byte, error) {
	stamp, err := time.Parse(time.RFC3339, inv.GeneratedAt)
	if err != nil {
		return nil, fmt.Errorf("cannot read the issue time of invoice %q: %w", inv.Number, err)
	}
	doc := &report.Invoice{
		Number:         inv.Number,
		Org:            inv.OrgName,
		Period:         inv.PeriodStart + " to " + inv.PeriodEnd,
		Timezone:       inv.Timezone,
		GroupBy:        inv.GroupBy,
		Generated:      stamp.Format("2006-01-02 15:04 MST"),
		Lines:          make([]report.InvoiceLine, 0, len(inv.Lines)),
		Subtotals:      make([]report.InvoiceSubtotal, 0, len(inv.Groups)),
		OrgPaysNano:    inv.OrgPaysNano,
		MemberPaysNano: inv.MemberPaysNano,
		TotalNano:      inv.Totals.CostNano,
	}
	if loc, err := time.LoadLocation(inv.Timezone); err == nil {
		doc.Generated = stamp.In(loc).Format("2006-01-02 15:04 MST")
	}
	for _, l := range inv.Lines {
		doc.Lines = append(doc.Lines, report.InvoiceLine{
			Group: invoiceGroupName(&l), Model: l.Model, BillingMode: l.BillingMode,
			Requests: l.Requests, InputTokens: l.InputTokens, OutputTokens: l.OutputTokens,
			CachedTokens: l.CachedTokens, CostNano: l.CostNano,
		})
	}
	for _, g := range inv.Groups {
		doc.Subtotals = append(doc.Subtotals, report.InvoiceSubtotal{Group: invoiceGroupName(&g), Requests: g.Requests, CostNano: g.CostNano})
	}
	var buf bytes.Buffer
	if err := report.WriteInvoicePDF(&buf, doc, stamp); err != nil {
		return nil, fmt.Errorf("cannot render invoice %q: %w", inv.Number, err)
	}
	return buf.Bytes(), nil
}

// invoiceGroupName names a group in the PDF: a member by email when the
// invoice recorded one.
func invoiceGroupName(l *invoiceLine) string {
	if l.Email != "" {
		return l.Email
	}
	return l.Group
}
