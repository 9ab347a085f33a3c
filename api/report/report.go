// Package report renders the documents that admins download or receive as
// PDF: the usage report, invoices and scheduled reports, on one writer
// (github.com/signintech/gopdf). It draws what it is given; the numbers come
// from package api, which owns the queries.
//
// Money is formatted exactly from nano-dollars (no float rounding), counts
// with thousands separators. Text is drawn with the Go fonts (regular and
// bold, compiled in from golang.org/x/image/font/gofont and embedded as
// subsets: nothing is read from the machine). They cover Latin-1 and Latin
// Extended-A (the Western and Central European letters), basic Greek and
// Cyrillic; other characters, such as "東京", show as "�" (U+FFFD), and
// control characters as spaces. Each font has a ToUnicode map, so the text
// of a document can be copied and searched.
package report

import (
	"strconv"
)

// Usage is the content of a usage report. The zero value renders an empty
// report; Write does not keep it.
type Usage struct {
	// Org is the organisation's display name.
	Org string
	// Period says which period the report covers, e.g.
	// "2026-11-01 to 2026-11-30 (Europe/Berlin)".
	Period string
	// Generated says when the report was made.
	Generated string
	Overview  Overview
	// ChartTitle names the bars, e.g. "Cost per day (USD)".
	ChartTitle string
	// Bars are the cost-over-time chart, oldest first.
	Bars []Bar
	// TopMembers, TopModels and TopDepartments are the tables, in the order
	// shown.
	TopMembers, TopModels, TopDepartments []Line
}

// Overview holds the headline numbers of a report.
type Overview struct {
	Requests        int64
	InputTokens     int64
	OutputTokens    int64
	CachedTokens    int64
	ReasoningTokens int64
	CostNano        int64
	Errors          int64
	AvgLatencyMs    int64
	ActiveMembers   int
}

// Bar is one bar of the cost-over-time chart.
type Bar struct {
	// Label is the first day the bar covers, YYYY-MM-DD.
	Label    string
	CostNano int64
}

// Line is one row of a top-N table.
type Line struct {
	Name     string
	Requests int64
	Tokens   int64
	CostNano int64
}

// USD formats nano-dollars as dollars, exactly: thousands separators, at
// least two decimals and up to nine, trailing zeros dropped beyond two
// ("$1,234.50", "$0.004027", "-$3.00").
func USD(nano int64) string {
	var b []byte
	u := uint64(nano)
	if nano < 0 {
		b = append(b, '-')
		u = -u
	}
	b = append(b, '$')
	b = appendGrouped(b, u/1e9)
	frac := u % 1e9
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 9
	for end > 2 && d[end-1] == '0' {
		end--
	}
	b = append(b, '.')
	return string(append(b, d[:end]...))
}

// Int formats n with thousands separators ("5,140").
func Int(n int64) string {
	if n < 0 {
		return "-" + string(appendGrouped(nil, -uint64(n)))
	}
	return string(appendGrouped(nil, uint64(n)))
}

// Percent formats part/whole as a percentage with two decimals, rounded
// half up ("16.67%"); "0.00%" when whole is 0.
func Percent(part, whole int64) string {
	if whole <= 0 || part <= 0 {
		return "0.00%"
	}
	// Basis points of a percent, in integers while they fit.
	var bp uint64
	if part <= (1<<63-1)/10000 {
		bp = (uint64(part)*10000*2 + uint64(whole)) / (uint64(whole) * 2)
	} else {
		bp = uint64(float64(part)/float64(whole)*10000 + 0.5)
	}
	s := strconv.FormatUint(bp/100, 10) + "."
	if r := bp % 100; r < 10 {
		s += "0" + strconv.FormatUint(r, 10)
	} else {
		s += strconv.FormatUint(r, 10)
	}
	return s + "%"
}

func appendGrouped(b []byte, n uint64) []byte {
	s := strconv.FormatUint(n, 10)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return b
}
