package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// Page geometry of the usage report, in millimetres (A4 portrait).
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	contentW     = pageW - 2*margin
	lineH        = 6.0
)

// Chart geometry: the y-axis labels take axisW on the left of the bars.
const (
	chartH      = 50.0
	axisW       = 24.0
	maxXLabels  = 7
	xLabelWidth = 18.0
)

// topColumns are the widths of the top-N tables: name, requests, tokens,
// cost, share of the cost.
var topColumns = [5]float64{78, 24, 30, 32, 16}

// WriteUsagePDF writes u as a PDF document to w. now stamps the document's
// creation date, so the same u and now give the same bytes. The content
// streams are compressed (FlateDecode).
func WriteUsagePDF(w io.Writer, u *Usage, now time.Time) error {
	d := fpdf.New("P", "mm", "A4", "")
	d.SetCatalogSort(true)
	d.SetCreationDate(now.UTC()) // written without a zone: readers take UTC
	d.SetModificationDate(now.UTC())
	tr := d.UnicodeTranslatorFromDescriptor("") // UTF-8 to Windows-1252
	p := &pdfWriter{d: d, tr: func(s string) string { return tr(printable(s)) }}
	d.SetTitle(p.tr(u.Org+" usage report"), false)
	d.SetCreator("infermeter", false)
	d.SetMargins(margin, margin, margin)
	d.SetAutoPageBreak(true, margin)
	d.AliasNbPages("")
	d.SetFooterFunc(func() {
		d.SetY(-margin + 3)
		p.font("", 8)
		d.SetTextColor(110, 110, 110)
		d.CellFormat(0, 4, fmt.Sprintf("Page %d of {nb}", d.PageNo()), "", 0, "C", false, 0, "")
	})
	d.AddPage()

	p.font("B", 18)
	p.cell(0, 10, u.Org+" usage report", 1, "L")
	p.font("", 10)
	d.SetTextColor(80, 80, 80)
	p.cell(0, 5, "Period: "+u.Period, 1, "L")
	p.cell(0, 5, "Generated: "+u.Generated, 1, "L")
	d.Ln(4)

	p.overview(&u.Overview)
	p.chart(u.ChartTitle, u.Bars)
	p.table("Top members", "Member", u.TopMembers, u.Overview.CostNano)
	p.table("Top models", "Model", u.TopModels, u.Overview.CostNano)
	p.table("Top departments", "Department", u.TopDepartments, u.Overview.CostNano)

	if err := d.Output(w); err != nil {
		return fmt.Errorf("cannot write the usage report PDF: %w", err)
	}
	return nil
}

// pdfWriter draws the parts of a report on one document.
type pdfWriter struct {
	d *fpdf.Fpdf
	// tr makes a UTF-8 string printable in the core fonts.
	tr func(string) string
}

func (p *pdfWriter) font(style string, size float64) {
	p.d.SetFont("Helvetica", style, size)
}

// cell writes one text cell; ln 1 moves to the next line.
func (p *pdfWriter) cell(w, h float64, s string, ln int, align string) {
	p.d.CellFormat(w, h, p.tr(s), "", ln, align, false, 0, "")
}

// heading writes a section title, on a new page when fewer than room
// millimetres are left below it.
func (p *pdfWriter) heading(s string, room float64) {
	if p.d.GetY()+room > pageH-margin {
		p.d.AddPage()
	}
	p.d.Ln(3)
	p.font("B", 13)
	p.d.SetTextColor(0, 0, 0)
	p.cell(0, 8, s, 1, "L")
}

// overview writes the headline numbers as label/value pairs, two a line.
func (p *pdfWriter) overview(o *Overview) {
	p.heading("Overview", 45)
	pairs := [][2]string{
		{"Requests", Int(o.Requests)},
		{"Total cost", USD(o.CostNano)},
		{"Input tokens", Int(o.InputTokens)},
		{"Output tokens", Int(o.OutputTokens)},
		{"Cached tokens", Int(o.CachedTokens)},
		{"Reasoning tokens", Int(o.ReasoningTokens)},
		{"Active members", Int(int64(o.ActiveMembers))},
		{"Errors", Int(o.Errors)},
		{"Error rate", Percent(o.Errors, o.Requests)},
		{"Avg latency", Int(o.AvgLatencyMs) + " ms"},
	}
	for i, kv := range pairs {
		p.font("", 10)
		p.d.SetTextColor(90, 90, 90)
		p.cell(36, lineH, kv[0], 0, "L")
		p.font("B", 10)
		p.d.SetTextColor(0, 0, 0)
		ln := 0
		if i%2 == 1 {
			ln = 1
		}
		p.cell(contentW/2-36, lineH, kv[1], ln, "L")
	}
}

// chart draws the bars of cost over time with fpdf rectangles and lines.
func (p *pdfWriter) chart(title string, bars []Bar) {
	if title == "" {
		title = "Cost over time (USD)"
	}
	p.heading(title, chartH+25)
	d := p.d
	top := d.GetY() + 3
	x0, plotW := margin+axisW, contentW-axisW
	bottom := top + chartH
	var peak int64
	for _, b := range bars {
		peak = max(peak, b.CostNano)
	}
	// Axes and grid lines at 0, half and the peak.
	d.SetDrawColor(200, 200, 200)
	d.SetLineWidth(0.1)
	for _, f := range []float64{0, 0.5, 1} {
		y := bottom - f*chartH
		d.Line(x0, y, x0+plotW, y)
	}
	p.font("", 7)
	d.SetTextColor(90, 90, 90)
	for _, t := range []struct {
		f float64
		v int64
	}{{0, 0}, {0.5, peak / 2}, {1, peak}} {
		d.SetXY(margin, bottom-t.f*chartH-2)
		p.cell(axisW-2, 4, USD(t.v), 0, "R")
	}
	if n := len(bars); n > 0 {
		slot := plotW / float64(n)
		barW := max(slot*0.7, 0.2)
		d.SetFillColor(52, 101, 164)
		for i, b := range bars {
			if b.CostNano <= 0 || peak == 0 {
				continue
			}
			h := float64(b.CostNano) / float64(peak) * chartH
			d.Rect(x0+float64(i)*slot+(slot-barW)/2, bottom-h, barW, h, "F")
		}
		step := (n + maxXLabels - 1) / maxXLabels
		for i := 0; i < n; i += step {
			p.xLabel(x0+(float64(i)+0.5)*slot, bottom, bars[i].Label)
		}
		if last := n - 1; last%step != 0 && float64(last%step)*slot >= xLabelWidth {
			p.xLabel(x0+(float64(last)+0.5)*slot, bottom, bars[last].Label)
		}
	}
	if peak == 0 {
		d.SetXY(x0, top+chartH/2-3)
		p.cell(plotW, 6, "No cost in this period", 0, "C")
	}
	d.SetXY(margin, bottom+7)
}

// xLabel writes a label centred on x below the chart.
func (p *pdfWriter) xLabel(x, bottom float64, s string) {
	p.d.SetXY(x-xLabelWidth/2, bottom+1)
	p.cell(xLabelWidth, 4, s, 0, "C")
}

// table writes a top-N table; share is each line's part of total.
func (p *pdfWriter) table(title, nameCol string, lines []Line, total int64) {
	p.heading(title, 3*lineH+8)
	d := p.d
	p.font("B", 9)
	d.SetFillColor(235, 235, 235)
	d.SetTextColor(0, 0, 0)
	for i, h := range [5]string{nameCol, "Requests", "Tokens", "Cost", "Share"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		d.CellFormat(topColumns[i], lineH, p.tr(h), "B", 0, align, true, 0, "")
	}
	d.Ln(-1)
	p.font("", 9)
	if len(lines) == 0 {
		p.cell(0, lineH, "None", 1, "L")
		return
	}
	for _, l := range lines {
		cols := [5]string{
			p.fit(p.tr(l.Name), topColumns[0]-2),
			Int(l.Requests), Int(l.Tokens), USD(l.CostNano), Percent(l.CostNano, total),
		}
		for i, s := range cols {
			align := "R"
			if i == 0 {
				align = "L"
			}
			d.CellFormat(topColumns[i], lineH, s, "", 0, align, false, 0, "")
		}
		d.Ln(-1)
	}
}

// printable replaces control characters, which the core fonts cannot
// show, with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// fit shortens s (already translated) with "..." until it is at most w
// millimetres wide in the current font.
func (p *pdfWriter) fit(s string, w float64) string {
	if p.d.GetStringWidth(s) <= w {
		return s
	}
	for len(s) > 0 && p.d.GetStringWidth(s+"...") > w {
		s = s[:len(s)-1]
	}
	return s + "..."
}
