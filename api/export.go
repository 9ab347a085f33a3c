package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Export formats and their content types. csv, json and ndjson stream rows
// (one per request, or per member × model × day with summary=true); pdf is
// the usage report.
var exportTypes = map[string]string{
	"csv":    "text/csv; charset=utf-8",
	"json":   "application/json",
	"ndjson": "application/x-ndjson",
	"pdf":    "application/pdf",
}

// exportUsage serves GET /api/organizations/{org}/export/usage (admins):
// format=csv|json|ndjson|pdf (default csv), summary=true|false (default
// false; not with pdf) and the date parameters. A period without a request
// answers 204 with no body.
func (a *API) exportUsage(c *call) {
	ctx, org := c.ctx, c.org
	args := ctx.QueryArgs()
	format := string(args.Peek("format"))
	if format == "" {
		format = "csv"
	}
	if _, ok := exportTypes[format]; !ok {
		a.badParam(ctx, fmt.Errorf("format: %q is not one of csv, json, ndjson, pdf", format))
		return
	}
	summary := false
	switch s := string(args.Peek("summary")); s {
	case "", "false", "0":
	case "true", "1":
		summary = true
	default:
		a.badParam(ctx, fmt.Errorf("summary: %q is not true or false", s))
		return
	}
	if summary && format == "pdf" {
		a.badParam(ctx, errors.New("summary: the pdf format is a summary already; use summary=true with csv, json or ndjson"))
		return
	}
	p, err := parsePeriod(args, org.Location, a.now())
	if err != nil {
		a.badParam(ctx, err)
		return
	}
	x := &export{
		org:     org.ID,
		loc:     org.Location,
		period:  p,
		format:  format,
		summary: summary,
	}
	switch {
	case format == "pdf":
		a.exportPDF(c, x)
	case summary:
		a.exportSummary(c, x)
	default:
		a.exportLogs(c, x)
	}
}

// export is one export request, resolved.
type export struct {
	org     string
	loc     *time.Location
	period  period
	format  string
	summary bool
}

// fileName is the download's name: "{org}-usage[-summary]-{first day}-{last
// day}.{format}", days in the org's timezone, the last one inclusive.
func (x *export) fileName() string {
	var b strings.Builder
	for _, r := range x.org {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("-usage-")
	if x.summary {
		b.WriteString("summary-")
	}
	b.WriteString(x.period.Start.In(x.loc).Format(time.DateOnly))
	b.WriteByte('-')
	b.WriteString(x.period.End.Add(-time.Nanosecond).In(x.loc).Format(time.DateOnly))
	b.WriteByte('.')
	b.WriteString(x.format)
	return b.String()
}

// start sets the headers of a download.
func (x *export) start(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType(exportTypes[x.format])
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+x.fileName()+`"`)
	ctx.Response.Header.Set("Cache-Control", "no-store")
}

// noContent answers 204: the period holds no request.
func noContent(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	ctx.Response.ResetBody()
}

// exportStream is the body of a streamed export. fasthttp reads it after
// the handler returns, on the connection's goroutine: each time buf runs
// dry, next encodes the following page of rows into buf, so memory holds one
// page whatever the size of the export. An error from next is returned by
// every later Read, which makes fasthttp drop the connection before the
// final chunk: the client sees a cut download, never a complete-looking
// truncated file.
//
// An exportStream must not use the request context: it outlives the
// handler.
type exportStream struct {
	buf bytes.Buffer
	// next appends the next page to buf and reports whether pages remain.
	next func() (more bool, err error)
	done bool
	err  error
}

// Read implements io.Reader.
func (s *exportStream) Read(p []byte) (int, error) {
	for s.buf.Len() == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		more, err := s.next()
		if err != nil {
			s.err = err
			return 0, err
		}
		s.done = !more
	}
	return s.buf.Read(p)
}
