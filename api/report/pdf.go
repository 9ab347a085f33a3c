package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// Page geometry of the documents, in millimetres (A4 portrait).
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

// Text placement in a cell: cellPad from its left or right edge, the
// baseline 0.3 em below its middle.
const (
	cellPad = 1.0
	mmPerPt = 25.4 / 72
)

// The family names of the embedded fonts in a document.
const (
	fontRegular = "GoRegular"
	fontBold    = "GoBold"
)

// topColumns are the widths of the top-N tables: name, requests, tokens,
// cost, share of the cost.
var topColumns = [5]float64{78, 24, 30, 32, 16}

// WriteUsagePDF writes u as a PDF document to w. now stamps the document's
// creation date, so the same u and now give the same bytes. The content
// streams are compressed (FlateDecode).
func WriteUsagePDF(w io.Writer, u *Usage, now time.Time) error {
	p := newPDF(u.Org+" usage report", now)
	p.font("B", 18)
	p.cell(0, 10, u.Org+" usage report", 1, "L")
	p.font("", 10)
	p.setTextColor(80, 80, 80)
	p.cell(0, 5, "Period: "+u.Period, 1, "L")
	p.cell(0, 5, "Generated: "+u.Generated, 1, "L")
	p.ln(4)

	p.overview(&u.Overview)
	p.chart(u.ChartTitle, u.Bars)
	p.table("Top members", "Member", u.TopMembers, u.Overview.CostNano)
	p.table("Top models", "Model", u.TopModels, u.Overview.CostNano)
	p.table("Top departments", "Department", u.TopDepartments, u.Overview.CostNano)

	err := p.finish(w, func(page, pages int) string { return fmt.Sprintf("Page %d of %d", page, pages) })
	if err != nil {
		return fmt.Errorf("cannot write the usage report PDF: %w", err)
	}
	return nil
}

// pdfWriter lays out one document on gopdf the way the documents were
// designed: a current position in millimetres from the top left, cells that
// move it, and a page break before a cell that would cross the bottom
// margin. Page footers are drawn by finish, when the number of pages is
// known. It keeps the first error, which finish returns; it is used by one
// goroutine.
type pdfWriter struct {
	d      *gopdf.GoPdf
	x, y   float64 // the current position
	lastH  float64 // the height of the last cell, for ln(-1)
	size   float64 // the font size, in points
	style  string  // the font style: "" or "B"
	text   [3]uint8
	fill   [3]uint8
	draw   [3]uint8
	lineW  float64
	pages  int
	footer bool // drawing footers: no page breaks
	err    error
}

// newPDF starts an A4 document with the Go fonts embedded, titled title and
// dated now, on its first page.
func newPDF(title string, now time.Time) *pdfWriter {
	d := &gopdf.GoPdf{}
	d.Start(gopdf.Config{PageSize: gopdf.Rect{W: pageW, H: pageH}, Unit: gopdf.UnitMM})
	p := &pdfWriter{d: d, lineW: 0.2}
	for _, f := range []struct {
		family string
		ttf    []byte
	}{{fontRegular, goregular.TTF}, {fontBold, gobold.TTF}} {
		if err := d.AddTTFFontData(f.family, f.ttf); err != nil {
			p.fail(fmt.Errorf("cannot embed the font %s: %w", f.family, err))
		}
	}
	d.SetInfo(gopdf.PdfInfo{Title: metadata(title), Creator: "infermeter", CreationDate: now.UTC()})
	p.font("", 10)
	p.addPage()
	return p
}

// fail keeps err if it is the first error.
func (p *pdfWriter) fail(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}

// font selects the regular font, or the bold one for style "B", at size
// points.
func (p *pdfWriter) font(style string, size float64) {
	family := fontRegular
	if style == "B" {
		family = fontBold
	}
	if err := p.d.SetFont(family, "", size); err != nil {
		p.fail(fmt.Errorf("cannot select the font %s: %w", family, err))
	}
	p.size, p.style = size, style
}

// minFitSize is the smallest font size fitCell shrinks a value to, in
// points.
const minFitSize = 4.0

// fitCell is cell (moving right) for a value that must be shown whole, such
// as an amount: when s is wider than the cell at the current font size, it
// is drawn at the size that fits (fitSize), then the size is restored.
func (p *pdfWriter) fitCell(w, h float64, s string, align string) {
	size, style := p.size, p.style
	if fs := p.fitSize(s, w-2*cellPad); fs < size {
		p.font(style, fs)
		defer p.font(style, size)
	}
	p.cell(w, h, s, 0, align)
}

// fitSize returns the current font size if s fits in w millimetres, else
// the largest size in half points at which it does (text width grows with
// the size, as there is no kerning), but not below minFitSize.
func (p *pdfWriter) fitSize(s string, w float64) float64 {
	tw := p.width(p.printable(s))
	if tw <= w || tw == 0 {
		return p.size
	}
	return max(math.Floor(p.size*w/tw*2)/2, minFitSize)
}

func (p *pdfWriter) setTextColor(r, g, b uint8) { p.text = [3]uint8{r, g, b} }

func (p *pdfWriter) setFillColor(r, g, b uint8) { p.fill = [3]uint8{r, g, b} }

func (p *pdfWriter) setDrawColor(r, g, b uint8) {
	p.draw = [3]uint8{r, g, b}
	p.d.SetStrokeColor(r, g, b)
}

func (p *pdfWriter) setLineWidth(w float64) {
	p.lineW = w
	p.d.SetLineWidth(w)
}

// addPage starts a new page at the top margin. The graphics state does not
// carry over pages in PDF: it sets the line width and colour again (which
// also gives the page the content stream that finish writes its footer
// into).
func (p *pdfWriter) addPage() {
	p.d.AddPage()
	p.pages++
	p.x, p.y = margin, margin
	p.d.SetLineWidth(p.lineW)
	p.d.SetStrokeColor(p.draw[0], p.draw[1], p.draw[2])
}

// setXY moves the current position.
func (p *pdfWriter) setXY(x, y float64) { p.x, p.y = x, y }

// ln moves to the start of the next line, h lower, or the height of the
// last cell lower when h is negative.
func (p *pdfWriter) ln(h float64) {
	p.x = margin
	if h < 0 {
		h = p.lastH
	}
	p.y += h
}

// cell writes one text cell; ln 1 moves to the next line.
func (p *pdfWriter) cell(w, h float64, s string, ln int, align string) {
	p.cellFormat(w, h, s, "", ln, align, false)
}

// cellFormat writes a cell w wide (0: to the right margin) and h high at the
// current position, on a new page if it would cross the bottom margin: its
// background when fill, a line on its bottom ("B") or top ("T") border, and
// s aligned "L", "R" or "C". ln 1 then moves to the next line, 0 to the
// right of the cell.
func (p *pdfWriter) cellFormat(w, h float64, s, border string, ln int, align string, fill bool) {
	if !p.footer && p.y+h > pageH-margin {
		x := p.x
		p.addPage()
		p.x = x
	}
	if w == 0 {
		w = pageW - margin - p.x
	}
	if fill {
		p.d.SetFillColor(p.fill[0], p.fill[1], p.fill[2])
		p.d.RectFromUpperLeftWithStyle(p.x, p.y, w, h, "F")
	}
	switch border {
	case "B":
		p.d.Line(p.x, p.y+h, p.x+w, p.y+h)
	case "T":
		p.d.Line(p.x, p.y, p.x+w, p.y)
	}
	if s = p.printable(s); s != "" && p.err == nil { // no font after an error
		dx := cellPad
		switch align {
		case "R":
			dx = w - cellPad - p.width(s)
		case "C":
			dx = (w - p.width(s)) / 2
		}
		p.d.SetTextColor(p.text[0], p.text[1], p.text[2])
		p.d.SetXY(p.x+dx, p.y+h/2+0.3*p.size*mmPerPt) // Text's y is the baseline
		if err := p.d.Text(s); err != nil {
			p.fail(fmt.Errorf("cannot write the text %q: %w", s, err))
		}
	}
	p.lastH = h
	if ln == 1 {
		p.ln(h)
	} else {
		p.x += w
	}
}

// rect fills a rectangle with the fill colour.
func (p *pdfWriter) rect(x, y, w, h float64) {
	p.d.SetFillColor(p.fill[0], p.fill[1], p.fill[2])
	p.d.RectFromUpperLeftWithStyle(x, y, w, h, "F")
}

// width is the width of s in the current font, in millimetres.
func (p *pdfWriter) width(s string) float64 {
	if p.err != nil {
		return 0 // there may be no font
	}
	w, err := p.d.MeasureTextWidth(s)
	if err != nil {
		p.fail(fmt.Errorf("cannot measure the text %q: %w", s, err))
	}
	return w
}

// printable replaces control characters with spaces and characters the
// current font has no glyph for with U+FFFD.
func (p *pdfWriter) printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case r < utf8.RuneSelf:
			return r // the Go fonts have every printable ASCII character
		}
		if ok, err := p.d.IsCurrFontContainGlyph(r); !ok || err != nil {
			return utf8.RuneError
		}
		return r
	}, s)
}

// metadata makes s fit for the document information dictionary, which
// gopdf writes as UTF-16 without surrogates: control characters become
// spaces and characters outside the Basic Multilingual Plane U+FFFD.
func metadata(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case r > 0xFFFF:
			return utf8.RuneError
		}
		return r
	}, s)
}

// fit makes s printable and shortens it with "..." until it is at most w
// millimetres wide in the current font.
func (p *pdfWriter) fit(s string, w float64) string {
	s = p.printable(s)
	total := p.width(s)
	if total <= w {
		return s
	}
	// Without kerning a string is as wide as its characters.
	total += p.width("...")
	for s != "" && total > w {
		r, n := utf8.DecodeLastRuneInString(s)
		total -= p.width(string(r))
		s = s[:len(s)-n]
	}
	return s + "..."
}

// finish draws the footer of every page (footerText gives its text) and
// writes the document to w.
func (p *pdfWriter) finish(w io.Writer, footerText func(page, pages int) string) error {
	p.footer = true
	for page := 1; page <= p.pages && p.err == nil; page++ {
		if err := p.d.SetPage(page); err != nil {
			p.fail(fmt.Errorf("cannot go back to page %d of %d: %w", page, p.pages, err))
			break
		}
		p.setXY(margin, pageH-margin+3)
		p.font("", 8)
		p.setTextColor(110, 110, 110)
		p.cell(0, 4, footerText(page, p.pages), 0, "C")
	}
	if p.err != nil {
		return p.err
	}
	// gopdf does not report write errors: render in memory, then write.
	var buf bytes.Buffer
	if _, err := p.d.WriteTo(&buf); err != nil {
		return fmt.Errorf("cannot render the document: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return err
	}
	return nil
}

// heading writes a section title, on a new page when fewer than room
// millimetres are left below it.
func (p *pdfWriter) heading(s string, room float64) {
	if p.y+room > pageH-margin {
		p.addPage()
	}
	p.ln(3)
	p.font("B", 13)
	p.setTextColor(0, 0, 0)
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
		p.setTextColor(90, 90, 90)
		p.cell(36, lineH, kv[0], 0, "L")
		p.font("B", 10)
		p.setTextColor(0, 0, 0)
		ln := 0
		if i%2 == 1 {
			ln = 1
		}
		p.cell(contentW/2-36, lineH, kv[1], ln, "L")
	}
}

// chart draws the bars of cost over time with rectangles and lines.
func (p *pdfWriter) chart(title string, bars []Bar) {
	if title == "" {
		title = "Cost over time (USD)"
	}
	p.heading(title, chartH+25)
	top := p.y + 3
	x0, plotW := margin+axisW, contentW-axisW
	bottom := top + chartH
	var peak int64
	for _, b := range bars {
		peak = max(peak, b.CostNano)
	}
	// Axes and grid lines at 0, half and the peak.
	p.setDrawColor(200, 200, 200)
	p.setLineWidth(0.1)
	for _, f := range []float64{0, 0.5, 1} {
		y := bottom - f*chartH
		p.d.Line(x0, y, x0+plotW, y)
	}
	p.font("", 7)
	p.setTextColor(90, 90, 90)
	for _, t := range []struct {
		f float64
		v int64
	}{{0, 0}, {0.5, peak / 2}, {1, peak}} {
		p.setXY(margin, bottom-t.f*chartH-2)
		p.cell(axisW-2, 4, USD(t.v), 0, "R")
	}
	if n := len(bars); n > 0 {
		slot := plotW / float64(n)
		barW := max(slot*0.7, 0.2)
		p.setFillColor(52, 101, 164)
		for i, b := range bars {
			if b.CostNano <= 0 || peak == 0 {
				continue
			}
			h := float64(b.CostNano) / float64(peak) * chartH
			p.rect(x0+float64(i)*slot+(slot-barW)/2, bottom-h, barW, h)
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
		p.setXY(x0, top+chartH/2-3)
		p.cell(plotW, 6, "No cost in this period", 0, "C")
	}
	p.setXY(margin, bottom+7)
}

// xLabel writes a label centred on x below the chart.
func (p *pdfWriter) xLabel(x, bottom float64, s string) {
	p.setXY(x-xLabelWidth/2, bottom+1)
	p.cell(xLabelWidth, 4, s, 0, "C")
}

// table writes a top-N table; share is each line's part of total.
func (p *pdfWriter) table(title, nameCol string, lines []Line, total int64) {
	p.heading(title, 3*lineH+8)
	p.font("B", 9)
	p.setFillColor(235, 235, 235)
	p.setTextColor(0, 0, 0)
	for i, h := range [5]string{nameCol, "Requests", "Tokens", "Cost", "Share"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		p.cellFormat(topColumns[i], lineH, h, "B", 0, align, true)
	}
	p.ln(-1)
	p.font("", 9)
	if len(lines) == 0 {
		p.cell(0, lineH, "None", 1, "L")
		return
	}
	for _, l := range lines {
		cols := [5]string{
			p.fit(l.Name, topColumns[0]-2),
			Int(l.Requests), Int(l.Tokens), USD(l.CostNano), Percent(l.CostNano, total),
		}
		for i, s := range cols {
			align := "R"
			if i == 0 {
				align = "L"
			}
			p.fitCell(topColumns[i], lineH, s, align)
		}
		p.ln(-1)
	}
}
