package report_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/api/report/reporttest"
)

// TestScheduledPDF writes a scheduled report and reads its text back.
func TestScheduledPDF(t *testing.T) {
	s := &report.Scheduled{
		Org: "Acme", Name: "Daily ops", Period: "2026-11-26 (Europe/Berlin)", Generated: "2026-11-27 07:00 CET",
		Sections: []report.Section{
			{Title: "Usage summary", Pairs: [][2]string{{"Requests", "3"}, {"Total cost", "$0.00063"}, {"Errors", "1"}}},
			{Title: "Top users", Tables: []report.Table{{
				Columns: []string{"#", "Member", "Cost"}, Widths: []float64{10, 100, 40}, Left: 2,
				Rows: [][]string{{"1", "alice@acme.example", "$0.00063"}},
			}}},
			{Title: "Errors", Tables: []report.Table{{Title: "By type", Columns: []string{"Type", "Count"}, Left: 1}}},
		},
	}
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := report.WriteScheduledPDF(&buf, s, now); err != nil {
		t.Fatal(err)
	}
	text, err := reporttest.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Acme report: Daily ops", "Period: 2026-11-26 (Europe/Berlin)", "Generated: 2026-11-27 07:00 CET",
		"Usage summary", "Requests", "3", "Total cost", "$0.00063", "Errors", "1",
		"Top users", "#", "Member", "Cost", "1", "alice@acme.example", "$0.00063",
		"Errors", "By type", "Type", "Count", "None",
		"Page 1 of 1",
	}
	if !slices.Equal(text, want) {
		t.Fatalf("text:\n%q\nwant:\n%q", text, want)
	}
	var again bytes.Buffer
	if err := report.WriteScheduledPDF(&again, s, now); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("not deterministic: %v", err)
	}
}

// TestScheduledPDFLong breaks a long table over pages and repeats its
// header.
func TestScheduledPDFLong(t *testing.T) {
	rows := make([][]string, 120)
	for i := range rows {
		rows[i] = []string{fmt.Sprint(i), "$1.00"}
	}
	s := &report.Scheduled{Org: "Acme", Name: "long", Sections: []report.Section{{Title: "T", Tables: []report.Table{{Columns: []string{"Row", "Cost"}, Left: 1, Rows: rows}}}}}
	var buf bytes.Buffer
	if err := report.WriteScheduledPDF(&buf, s, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	text, err := reporttest.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	headers, pages := 0, 0
	for _, x := range text {
		if x == "Row" {
			headers++
		}
		if len(x) > 5 && x[:5] == "Page " {
			pages++
		}
	}
	if pages < 2 || headers != pages || !slices.Contains(text, "119") {
		t.Fatalf("%d pages, %d headers", pages, headers)
	}
}
