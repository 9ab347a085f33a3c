package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
)

// exportRow is one row of a CSV, JSON or NDJSON export. Its JSON encoding
// has the keys of its columns, in the same order.
type exportRow interface {
	// record appends the row's CSV fields to dst, one per column.
	record(dst []string) []string
}

// logColumns are the columns of a per-request export.
var logColumns = []string{
	"id", "timestamp", "user_id", "email", "model", "status", "http_status", "error_type", "error_message",
	"input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
	"cost_usd", "priced", "latency_ms", "ttft_ms", "stream", "category", "department", "billing_mode",
	"tags", "usage_source", "connection_id",
}

// logRow is one request log in an export: the fields of the request-log
// API with the member's email, every field always present.
type logRow struct {
	ID               string `json:"id"`
	Timestamp        string `json:"timestamp"`
	UserID           string `json:"user_id"`
	Email            string `json:"email"`
	Model            string `json:"model"`
	Status           string `json:"status"`
	HTTPStatus       int    `json:"http_status"`
	ErrorType        string `json:"error_type"`
	ErrorMessage     string `json:"error_message"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	CostUSD          USD    `json:"cost_usd"`
	Priced           bool   `json:"priced"`
	LatencyMs        int64  `json:"latency_ms"`
	TTFTMs           int64  `json:"ttft_ms"`
	Stream           bool   `json:"stream"`
	Category         string `json:"category"`
	Department       string `json:"department"`
	BillingMode      string `json:"billing_mode"`
	Tags             string `json:"tags"`
	UsageSource      string `json:"usage_source"`
	ConnectionID     string `json:"connection_id"`
}

func newLogRow(l *logJSON, email string) logRow {
	return logRow{
		ID: l.ID, Timestamp: l.Timestamp, UserID: l.UserID, Email: email, Model: l.Model,
		Status: l.Status, HTTPStatus: l.HTTPStatus, ErrorType: l.ErrorType, ErrorMessage: l.ErrorMessage,
		InputTokens: l.InputTokens, OutputTokens: l.OutputTokens, CachedTokens: l.CachedTokens,
		CacheWriteTokens: l.CacheWrite, ReasoningTokens: l.ReasoningTokens, CostUSD: l.CostUSD,
		Priced: l.Priced, LatencyMs: l.LatencyMs, TTFTMs: l.TTFTMs, Stream: l.Stream,
		Category: l.Category, Department: l.Department, BillingMode: l.BillingMode, Tags: l.Tags,
		UsageSource: l.UsageSource, ConnectionID: l.ConnectionID,
	}
}

func (r *logRow) record(dst []string) []string {
	return append(dst,
		r.ID, r.Timestamp, csvText(r.UserID), csvText(r.Email), csvText(r.Model), r.Status,
		strconv.Itoa(r.HTTPStatus), r.ErrorType, csvText(r.ErrorMessage),
		i64(r.InputTokens), i64(r.OutputTokens), i64(r.CachedTokens), i64(r.CacheWriteTokens), i64(r.ReasoningTokens),
		string(AppendUSD(nil, int64(r.CostUSD))), strconv.FormatBool(r.Priced), i64(r.LatencyMs), i64(r.TTFTMs),
		strconv.FormatBool(r.Stream), r.Category, csvText(r.Department), csvText(r.BillingMode),
		csvText(r.Tags), r.UsageSource, csvText(r.ConnectionID),
	)
}

// summaryColumns are the columns of a summary export.
var summaryColumns = []string{
	"day", "user_id", "email", "model", "requests", "input_tokens", "output_tokens", "cached_tokens",
	"cache_write_tokens", "reasoning_tokens", "cost_usd", "errors",
}

// summaryRow is the usage of one member with one model on one day (in the
// org's timezone).
type summaryRow struct {
	Day              string `json:"day"`
	UserID           string `json:"user_id"`
	Email            string `json:"email"`
	Model            string `json:"model"`
	Requests         int64  `json:"requests"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	CostUSD          USD    `json:"cost_usd"`
	Errors           int64  `json:"errors"`
}

func (r *summaryRow) record(dst []string) []string {
	return append(dst,
		r.Day, csvText(r.UserID), csvText(r.Email), csvText(r.Model), i64(r.Requests),
		i64(r.InputTokens), i64(r.OutputTokens), i64(r.CachedTokens), i64(r.CacheWriteTokens),
		i64(r.ReasoningTokens), string(AppendUSD(nil, int64(r.CostUSD))), i64(r.Errors),
	)
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// csvText keeps a spreadsheet from reading a text field as a formula: a
// field that starts with =, +, -, @, tab or carriage return gets a leading
// apostrophe (OWASP's advice against CSV injection). Members choose some of
// these values (department and tag headers), providers others (error
// messages). JSON exports carry the values unchanged.
func csvText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// rowEncoder writes the rows of an export in its format to a buffer: CSV
// (a header line, then one record a row), JSON (an object with the rows in
// an array, and their count after it) or NDJSON (one object a line).
type rowEncoder struct {
	format string
	buf    *bytes.Buffer
	csv    *csv.Writer
	rec    []string
	rows   int64
}

// newRowEncoder returns an encoder for x writing to buf, and writes the CSV
// header or the opening of the JSON object.
func newRowEncoder(x *export, buf *bytes.Buffer, columns []string) (*rowEncoder, error) {
	e := &rowEncoder{format: x.format, buf: buf}
	switch x.format {
	case "csv":
		e.csv = csv.NewWriter(buf)
		if err := e.csv.Write(columns); err != nil {
			return nil, fmt.Errorf("cannot write the CSV header: %w", err)
		}
		e.rec = make([]string, 0, len(columns))
	case "json":
		org, err := json.Marshal(x.org)
		if err != nil {
			return nil, fmt.Errorf("cannot encode the org id: %w", err)
		}
		per, err := json.Marshal(periodJSON{
			Start:    x.period.Start.In(x.loc).Format(time.RFC3339),
			End:      x.period.End.In(x.loc).Format(time.RFC3339),
			Timezone: x.loc.String(),
		})
		if err != nil {
			return nil, fmt.Errorf("cannot encode the period: %w", err)
		}
		buf.WriteString(`{"success":true,"org_id":`)
		buf.Write(org)
		buf.WriteString(`,"period":`)
		buf.Write(per)
		buf.WriteString(`,"rows":[`)
	}
	return e, nil
}

// row writes one row.
func (e *rowEncoder) row(r exportRow) error {
	if e.format == "csv" {
		e.rec = r.record(e.rec[:0])
		if err := e.csv.Write(e.rec); err != nil {
			return fmt.Errorf("cannot write a CSV row: %w", err)
		}
		e.rows++
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cannot encode a row: %w", err)
	}
	if e.format == "json" {
		if e.rows > 0 {
			e.buf.WriteByte(',')
		}
		e.buf.WriteByte('\n')
	}
	e.buf.Write(b)
	if e.format == "ndjson" {
		e.buf.WriteByte('\n')
	}
	e.rows++
	return nil
}

// flush moves what the CSV writer buffers into buf; call it at the end of
// each page.
func (e *rowEncoder) flush() error {
	if e.csv == nil {
		return nil
	}
	e.csv.Flush()
	if err := e.csv.Error(); err != nil {
		return fmt.Errorf("cannot write CSV rows: %w", err)
	}
	return nil
}

// end closes the JSON object (with the row count) and flushes.
func (e *rowEncoder) end() error {
	if e.format == "json" {
		e.buf.WriteString("\n],\"row_count\":")
		e.buf.WriteString(i64(e.rows))
		e.buf.WriteString("}\n")
	}
	return e.flush()
}
