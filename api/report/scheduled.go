package report

import (
	"fmt"
	"io"
	"time"
)

// Scheduled is the content of a scheduled report: a title block and one
// section per part the schedule includes. The zero value renders an empty
// report; WriteScheduledPDF does not keep it.
type Scheduled struct {
	// Org is the organisation's display name.
	Org string
	// Name is the schedule's name.
	Name string
	// Period says which period the report covers.
	Period string
	// Generated says when the report was made.
	Generated string
	Sections  []Section
}

// Section is one part of a scheduled report: label/value pairs (two a
// line), then tables.
type Section struct {
	Title  string
	Pairs  [][2]string
	Tables []Table
}

// Table is a table of text cells. The first Left columns are left-aligned
// (names), the others right-aligned (numbers). Widths are in millimetres and
// should sum to at most the content width (180); nil shares it equally.
type Table struct {
	Title   string
	Columns []string
	Widths  []float64
	Left    int
	Rows    [][]string
}

// WriteScheduledPDF writes s as a PDF document to w. now stamps the
// document's creation date, so the same s and now give the same bytes.
func WriteScheduledPDF(w io.Writer, s *Scheduled, now time.Time) error {
	title := s.Org + " report: " + s.Name
	p := newPDF(title, now)
	p.font("B", 18)
	p.cell(0, 10, title, 1, "L")
	p.font("", 10)
	p.setTextColor(80, 80, 80)
	p.cell(0, 5, "Period: "+s.Period, 1, "L")
	p.cell(0, 5, "Generated: "+s.Generated, 1, "L")
	p.ln(4)
	for i := range s.Sections {
		p.section(&s.Sections[i])
	}
	err := p.finish(w, func(page, pages int) string { return fmt.Sprintf("Page %d of %d", page, pages) })
	if err != nil {
		return fmt.Errorf("cannot write the scheduled report PDF: %w", err)
	}
	return nil
}

// section writes one section of a scheduled report.
func (p *pdfWriter) section(s *Section) {
	p.heading(s.Title, 3*lineH+8)
	for i, kv := range s.Pairs {
		p.font("", 10)
		p.setTextColor(90, 90, 90)
		p.cell(36, lineH, kv[0], 0, "L")
		p.font("B", 10)
		p.setTextColor(0, 0, 0)
		ln := 0
		if i%2 == 1 || i == len(s.Pairs)-1 {
			ln = 1
		}
		p.cell(contentW/2-36, lineH, kv[1], ln, "L")
	}
	for i := range s.Tables {
		p.textTable(&s.Tables[i])
	}
}

// textTable writes a table of text cells.
func (p *pdfWriter) textTable(t *Table) {
	if len(t.Columns) == 0 {
		return
	}
	widths := t.Widths
	if len(widths) != len(t.Columns) {
		widths = make([]float64, len(t.Columns))
		for i := range widths {
			widths[i] = contentW / float64(len(t.Columns))
		}
	}
	align := func(i int) string {
		if i < t.Left {
			return "L"
		}
		return "R"
	}
	if p.y+3*lineH+6 > pageH-margin {
		p.addPage()
	}
	if t.Title != "" {
		p.ln(1)
		p.font("B", 10)
		p.setTextColor(0, 0, 0)
		p.cell(0, lineH, t.Title, 1, "L")
	}
	header := func() {
		p.font("B", 9)
		p.setFillColor(235, 235, 235)
		p.setTextColor(0, 0, 0)
		for i, h := range t.Columns {
			p.cellFormat(widths[i], lineH, h, "B", 0, align(i), true)
		}
		p.ln(-1)
		p.font("", 9)
	}
	header()
	if len(t.Rows) == 0 {
		p.cell(0, lineH, "None", 1, "L")
		return
	}
	for _, row := range t.Rows {
		if p.y+lineH > pageH-margin {
			p.addPage()
			header()
		}
		for i := range t.Columns {
			s := ""
			if i < len(row) {
				s = row[i]
			}
			p.cell(widths[i], lineH, p.fit(s, widths[i]-2), 0, align(i))
		}
		p.ln(-1)
	}
}
