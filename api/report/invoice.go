package report

import (
	"fmt"
	"io"
	"time"
)

// Invoice is the content of a chargeback invoice document. The zero value
// renders an empty invoice; WriteInvoicePDF does not keep it.
type Invoice struct {
	// Number is the invoice's number, e.g. "ACME-2026-0001".
	Number string
	// Org is the organisation's display name.
	Org string
	// Period says which days the invoice covers, e.g.
	// "2026-11-01 to 2026-11-30".
	Period string
	// Timezone names the zone of the period's days, e.g. "Europe/Berlin".
	Timezone string
	// GroupBy names what a line's group is: "department", "user" or
	// "billing_mode".
	GroupBy string
	// Generated says when the invoice was issued.
	Generated string
	// Lines are the charges per group, model and billing mode, in the order
	// shown.
	Lines []InvoiceLine
	// Subtotals are the charges per group, in the order shown.
	Subtotals []InvoiceSubtotal
	// OrgPaysNano and MemberPaysNano split TotalNano by who pays.
	OrgPaysNano, MemberPaysNano, TotalNano int64
}

// InvoiceLine is one charge of an invoice: one group's use of one model in
// one billing mode.
type InvoiceLine struct {
	Group        string
	Model        string
	BillingMode  string
	Requests     int64
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	CostNano     int64
}

// InvoiceSubtotal is the sum of the lines of one group.
type InvoiceSubtotal struct {
	Group    string
	Requests int64
	CostNano int64
}

// invoiceColumns are the widths of the lines table: group, model, billing
// mode, requests, input, output, cached tokens, cost.
var invoiceColumns = [8]float64{30, 38, 22, 16, 18, 17, 15, 24}

// WriteInvoicePDF writes inv as a PDF document to w: a header with the
// number, organisation, period and timezone, the lines, the subtotals per
// group, the split between the org and its members, and the total. now
// stamps the document's creation date, so the same inv and now give the
// same bytes.
func WriteInvoicePDF(w io.Writer, inv *Invoice, now time.Time) error {
	p := newPDF("Invoice "+inv.Number, now)
	p.font("B", 18)
	p.cell(0, 10, "Invoice "+inv.Number, 1, "L")
	p.font("", 10)
	p.setTextColor(80, 80, 80)
	for _, kv := range [][2]string{
		{"Organisation", inv.Org},
		{"Period", inv.Period},
		{"Timezone", inv.Timezone},
		{"Grouped by", inv.GroupBy},
		{"Generated", inv.Generated},
		{"Currency", "USD"},
	} {
		p.cell(30, 5, kv[0], 0, "L")
		p.cell(0, 5, kv[1], 1, "L")
	}
	p.ln(2)

	p.invoiceLines(inv.Lines)
	p.invoiceSubtotals(inv.Subtotals, inv.TotalNano)

	p.heading("Who pays", 4*lineH+8)
	for _, kv := range [][2]string{
		{"Paid by the organisation (org_pays)", USD(inv.OrgPaysNano)},
		{"Paid by members (member_pays)", USD(inv.MemberPaysNano)},
	} {
		p.font("", 10)
		p.cell(120, lineH, kv[0], 0, "L")
		p.fitCell(contentW-120, lineH, kv[1], "R")
		p.ln(-1)
	}
	p.font("B", 12)
	p.setDrawColor(0, 0, 0)
	p.cellFormat(120, lineH+2, "Total", "T", 0, "L", false)
	p.cellFormat(contentW-120, lineH+2, USD(inv.TotalNano), "T", 1, "R", false)

	err := p.finish(w, func(page, pages int) string { return fmt.Sprintf("%s - page %d of %d", inv.Number, page, pages) })
	if err != nil {
		return fmt.Errorf("cannot write the invoice PDF %q: %w", inv.Number, err)
	}
	return nil
}

// invoiceLines writes the table of an invoice's lines.
func (p *pdfWriter) invoiceLines(lines []InvoiceLine) {
	p.heading("Charges", 3*lineH+8)
	p.font("B", 8)
	p.setFillColor(235, 235, 235)
	p.setTextColor(0, 0, 0)
	for i, h := range [8]string{"Group", "Model", "Billing", "Requests", "Input", "Output", "Cached", "Cost"} {
		p.cellFormat(invoiceColumns[i], lineH, h, "B", 0, invoiceAlign(i), true)
	}
	p.ln(-1)
	p.font("", 8)
	if len(lines) == 0 {
		p.cell(0, lineH, "No usage in this period", 1, "L")
		return
	}
	for _, l := range lines {
		cols := [8]string{
			p.fit(groupName(l.Group), invoiceColumns[0]-2),
			p.fit(l.Model, invoiceColumns[1]-2),
			p.fit(l.BillingMode, invoiceColumns[2]-2),
			Int(l.Requests), Int(l.InputTokens), Int(l.OutputTokens), Int(l.CachedTokens), USD(l.CostNano),
		}
		for i, s := range cols {
			if i < 3 {
				p.cell(invoiceColumns[i], lineH, s, 0, invoiceAlign(i))
			} else {
				p.fitCell(invoiceColumns[i], lineH, s, invoiceAlign(i))
			}
		}
		p.ln(-1)
	}
}

// invoiceSubtotals writes the table of the subtotals per group; share is
// each group's part of total.
func (p *pdfWriter) invoiceSubtotals(subs []InvoiceSubtotal, total int64) {
	p.heading("Subtotals", 3*lineH+8)
	widths := [4]float64{96, 28, 36, 20}
	p.font("B", 9)
	p.setFillColor(235, 235, 235)
	for i, h := range [4]string{"Group", "Requests", "Cost", "Share"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		p.cellFormat(widths[i], lineH, h, "B", 0, align, true)
	}
	p.ln(-1)
	p.font("", 9)
	if len(subs) == 0 {
		p.cell(0, lineH, "None", 1, "L")
		return
	}
	for _, s := range subs {
		cols := [4]string{p.fit(groupName(s.Group), widths[0]-2), Int(s.Requests), USD(s.CostNano), Percent(s.CostNano, total)}
		for i, v := range cols {
			align := "R"
			if i == 0 {
				align = "L"
			}
			p.fitCell(widths[i], lineH, v, align)
		}
		p.ln(-1)
	}
}

// invoiceAlign aligns the text columns of the lines table left and the
// numbers right.
func invoiceAlign(col int) string {
	if col < 3 {
		return "L"
	}
	return "R"
}

// groupName shows an empty group (requests without a department) as
// "(none)".
func groupName(g string) string {
	if g == "" {
		return "(none)"
	}
	return g
}
