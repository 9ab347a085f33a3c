package api

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
)

// Invoices are chargeback documents: the usage of a period priced from the
// meter's cells, one line per group × model × billing mode, frozen when
// generated. Each invoice is kept whole in the store's state under
// invoiceKey; each org's last invoice number under invoiceSeqKey.
//
// Money is summed in integer nano-dollars from the same cells as the usage
// route, so an invoice's total equals that route's overview cost for the
// same period exactly.

// Limits of an invoice period.
const (
	// invoiceMaxDays bounds the length of an invoice's period.
	invoiceMaxDays = 366
)

// invoiceGroupings are the accepted group_by values, in the order errors
// list them.
var invoiceGroupings = []string{"department", "user", "billing_mode"}

// invoiceRequest is a parsed generate body.
type invoiceRequest struct {
	period period
	// startText and endText show the bounds as given: a date (the end
	// inclusive) or an RFC 3339 time.
	startText, endText string
	groupBy            string
}

// parseInvoiceRequest reads a generate body: period_start and period_end
// as YYYY-MM-DD (whole days of loc, the end inclusive) or RFC 3339, and
// group_by (default department). The period must start before it ends,
// last at most invoiceMaxDays days and end no later than the end of today
// in loc. Errors name the field ("body" for the body as a whole).
func parseInvoiceRequest(body []byte, loc *time.Location, now time.Time) (invoiceRequest, error) {
	var r invoiceRequest
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return r, errors.New("body: must be a JSON object")
	}
	var start, end, groupBy *string
	var err error
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		name := k.String()
		var dst **string
		switch name {
		case "period_start":
			dst = &start
		case "period_end":
			dst = &end
		case "group_by":
			dst = &groupBy
		default:
			err = fmt.Errorf("%s: unknown field; known: period_start, period_end, group_by", strconv.Quote(name))
			return false
		}
		if *dst != nil {
			err = fmt.Errorf("%s: given more than once", name)
			return false
		}
		if v.Type != gjson.String {
			err = fmt.Errorf("%s: must be a string", name)
			return false
		}
		s := v.String()
		*dst = &s
		return true
	})
	if err != nil {
		return r, err
	}
	if start == nil {
		return r, errors.New("period_start: must be given (YYYY-MM-DD or RFC 3339)")
	}
	if end == nil {
		return r, errors.New("period_end: must be given (YYYY-MM-DD or RFC 3339)")
	}
	r.groupBy = "department"
	if groupBy != nil {
		r.groupBy = *groupBy
	}
	if !slices.Contains(invoiceGroupings, r.groupBy) {
		return r, fmt.Errorf("group_by: %q is not one of %s", r.groupBy, strings.Join(invoiceGroupings, ", "))
	}
	t, whole, err := parseDate(*start, loc)
	if err != nil {
		return r, fmt.Errorf("period_start: %w", err)
	}
	r.period.Start, r.startText = t, *start
	if !whole {
		r.startText = t.In(loc).Format(time.RFC3339Nano)
	}
	t, whole, err = parseDate(*end, loc)
	if err != nil {
		return r, fmt.Errorf("period_end: %w", err)
	}
	r.endText = *end
	if whole {
		t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
	} else {
		r.endText = t.In(loc).Format(time.RFC3339Nano)
	}
	r.period.End = t
	p := r.period
	if !p.Start.Before(p.End) {
		return r, fmt.Errorf("period_end: the period from %s to %s is empty (it ends before it starts)", r.startText, r.endText)
	}
	if limit := p.Start.In(loc).AddDate(0, 0, invoiceMaxDays); p.End.After(limit) {
		return r, fmt.Errorf("period_end: the period is longer than %d days (it may end at %s at the latest)", invoiceMaxDays, limit.Format(time.RFC3339))
	}
	now = now.In(loc)
	if tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc); p.End.After(tomorrow) {
		return r, fmt.Errorf("period_end: the period ends (%s) after today (%s)", p.End.In(loc).Format(time.RFC3339), now.Format(time.DateOnly))
	}
	return r, nil
}

// invoice is an issued invoice as stored: everything it shows, money in
// nano-dollars. It is written once, when generated, and never changed.
type invoice struct {
	ID      string `json:"id"`
	Number  string `json:"number"`
	Seq     int64  `json:"seq"`
	OrgID   string `json:"org_id"`
	OrgName string `json:"org_name"`
	// PeriodStart and PeriodEnd are the bounds as asked: dates (the end
	// inclusive) or RFC 3339 times; Start and End are the period's
	// half-open range [Start, End) in RFC 3339.
	PeriodStart string        `json:"period_start"`
	PeriodEnd   string        `json:"period_end"`
	Start       string        `json:"start"`
	End         string        `json:"end"`
	Timezone    string        `json:"timezone"`
	GroupBy     string        `json:"group_by"`
	GeneratedAt string        `json:"generated_at"`
	Lines       []invoiceLine `json:"lines"`
	Groups      []invoiceLine `json:"groups"`
	// Totals sums every line; OrgPaysNano and MemberPaysNano split its
	// cost by billing mode (every mode but member_pays is the org's).
	Totals         invoiceLine `json:"totals"`
	OrgPaysNano    int64       `json:"org_pays_nano"`
	MemberPaysNano int64       `json:"member_pays_nano"`
}

// invoiceLine is one line of an invoice (group × model × billing mode),
// or the sum of several (Model and BillingMode then empty).
type invoiceLine struct {
	Group            string `json:"group"`
	Email            string `json:"email,omitempty"`
	Model            string `json:"model,omitempty"`
	BillingMode      string `json:"billing_mode,omitempty"`
	Requests         int64  `json:"requests"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	CostNano         int64  `json:"cost_nano"`
}

// add adds the sums of l to s.
func (s *invoiceLine) add(l *invoiceLine) {
	s.Requests += l.Requests
	s.InputTokens += l.InputTokens
	s.OutputTokens += l.OutputTokens
	s.CachedTokens += l.CachedTokens
	s.CacheWriteTokens += l.CacheWriteTokens
	s.ReasoningTokens += l.ReasoningTokens
	s.CostNano += l.CostNano
}

// addCell adds the sums of a meter cell to s.
func (s *invoiceLine) addCell(c *meter.Cell) {
	s.Requests += c.Requests
	s.InputTokens += c.InputTokens
	s.OutputTokens += c.OutputTokens
	s.CachedTokens += c.CachedTokens
	s.CacheWriteTokens += c.CacheWrite
	s.ReasoningTokens += c.Reasoning
	s.CostNano += c.CostNano
}

// invoiceLineKey identifies one line while the cells are summed.
type invoiceLineKey struct {
	group, model, mode string
}

// buildInvoice sums the cells of org in the period into the lines of an
// invoice, with the subtotals, the split and the total. Number, ID and
// GeneratedAt are left to the caller.
func (a *API) buildInvoice(org *account.Org, r *invoiceRequest) *invoice {
	loc := org.Location
	sums := map[invoiceLineKey]*invoiceLine{}
	a.scan(org.ID, "", r.period.Start.Unix(), r.period.End.Unix(), func(k *meter.CellKey, c *meter.Cell) {
		var g string
		switch r.groupBy {
		case "department":
			g = k.Department
		case "user":
			g = k.User
		default:
			g = k.BillingMode
		}
		lk := invoiceLineKey{group: g, model: k.Model, mode: k.BillingMode}
		l := sums[lk]
		if l == nil {
			l = &invoiceLine{Group: g, Model: k.Model, BillingMode: k.BillingMode}
			sums[lk] = l
		}
		l.addCell(c)
	})
	inv := &invoice{
		OrgID:       org.ID,
		OrgName:     org.Name,
		PeriodStart: r.startText,
		PeriodEnd:   r.endText,
		Start:       r.period.Start.In(loc).Format(time.RFC3339Nano),
		End:         r.period.End.In(loc).Format(time.RFC3339Nano),
		Timezone:    loc.String(),
		GroupBy:     r.groupBy,
		Lines:       make([]invoiceLine, 0, len(sums)),
		Groups:      []invoiceLine{},
	}
	if inv.OrgName == "" {
		inv.OrgName = org.ID
	}
	for _, l := range sums {
		if r.groupBy == "user" {
			if m, ok := a.opt.Accounts.Member(org.ID, l.Group); ok {
				l.Email = m.Email
			}
		}
		inv.Lines = append(inv.Lines, *l)
	}
	slices.SortFunc(inv.Lines, func(x, y invoiceLine) int {
		if c := cmp.Compare(x.Group, y.Group); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Model, y.Model); c != 0 {
			return c
		}
		return cmp.Compare(x.BillingMode, y.BillingMode)
	})
	for i := range inv.Lines {
		l := &inv.Lines[i]
		if n := len(inv.Groups); n == 0 || inv.Groups[n-1].Group != l.Group {
			inv.Groups = append(inv.Groups, invoiceLine{Group: l.Group, Email: l.Email})
		}
		inv.Groups[len(inv.Groups)-1].add(l)
		inv.Totals.add(l)
		if l.BillingMode == account.MemberPays {
			inv.MemberPaysNano += l.CostNano
		} else {
			inv.OrgPaysNano += l.CostNano
		}
	}
	return inv
}

// invoiceKey is the state key of an invoice; invoicePrefix of an org's
// invoices.
func invoiceKey(org, id string) string { return invoicePrefix(org) + id }

func invoicePrefix(org string) string { return "inv/" + org + "/" }

// invoiceSeqKey is the state key of an org's last invoice number.
func invoiceSeqKey(org string) string { return "invseq/" + org }

// nextInvoiceSeq takes the org's next invoice number and persists it
// before returning it, so it is never given again.
func (a *API) nextInvoiceSeq(org string) (int64, error) {
	a.invoiceMu.Lock()
	defer a.invoiceMu.Unlock()
	var last int64
	v, ok, err := a.opt.Store.GetState(invoiceSeqKey(org))
	if err != nil {
		return 0, fmt.Errorf("cannot read the invoice sequence of %q: %w", org, err)
	}
	if ok {
		if last, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return 0, fmt.Errorf("cannot read the invoice sequence of %q: %w", org, err)
		}
	}
	next := last + 1
	if err := a.opt.Store.PutState(invoiceSeqKey(org), strconv.AppendInt(nil, next, 10)); err != nil {
		return 0, fmt.Errorf("cannot advance the invoice sequence of %q: %w", org, err)
	}
	return next, nil
}

// invoiceNumber formats an invoice number: the org's id in capitals (its
// letters and digits), the year of issue and the sequence number, at least
// four digits ("ACME-2026-0001").
func invoiceNumber(org string, year int, seq int64) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(org) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("INV")
	}
	return fmt.Sprintf("%s-%04d-%04d", b.String(), year, seq)
}

// newInvoiceID returns a random invoice id ("inv_" and 20 hex digits).
func newInvoiceID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot make an invoice id: %w", err)
	}
	return "inv_" + hex.EncodeToString(b[:]), nil
}

// invoicesReady answers 503 and returns false when the API has no store to
// keep invoices in.
func (a *API) invoicesReady(ctx *fasthttp.RequestCtx) bool {
	if a.opt.Store == nil {
		a.fail(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "invoices are not enabled on this server")
		return false
	}
	return true
}

// generateInvoice serves POST /api/billing/invoices/generate (admins): it
// prices the period's usage of the caller's org, numbers the invoice,
// stores it and answers 201 with it.
func (a *API) generateInvoice(c *call) {
	ctx, org := c.ctx, c.org
	if !a.invoicesReady(ctx) {
		return
	}
	now := a.now()
	r, err := parseInvoiceRequest(ctx.PostBody(), org.Location, now)
	if err != nil {
		a.badParam(ctx, err)
		return
	}
	inv := a.buildInvoice(org, &r)
	if inv.ID, err = newInvoiceID(); err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot make an invoice id")
		return
	}
	if inv.Seq, err = a.nextInvoiceSeq(org.ID); err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot number the invoice")
		return
	}
	local := now.In(org.Location)
	inv.Number = invoiceNumber(org.ID, local.Year(), inv.Seq)
	inv.GeneratedAt = local.Format(time.RFC3339)
	b, err := json.Marshal(inv)
	if err == nil {
		err = a.opt.Store.PutState(invoiceKey(org.ID, inv.ID), b)
	}
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot store the invoice "+inv.Number)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	a.writeJSON(ctx, invoiceAnswer{Success: true, Invoice: inv.view()})
}

// loadInvoice reads one invoice of org; false when there is none.
func (a *API) loadInvoice(org, id string) (*invoice, bool, error) {
	b, ok, err := a.opt.Store.GetState(invoiceKey(org, id))
	if err != nil || !ok {
		return nil, false, err
	}
	inv := &invoice{}
	if err := json.Unmarshal(b, inv); err != nil {
		return nil, false, fmt.Errorf("cannot decode invoice %q: %w", id, err)
	}
	return inv, true, nil
}

// invoiceFormats maps the format parameter of an invoice to its content
// type.
var invoiceFormats = map[string]string{
	"json": "application/json",
	"csv":  "text/csv; charset=utf-8",
	"pdf":  "application/pdf",
}

// getInvoice serves GET /api/billing/invoices/{id}?format=json|csv|pdf
// (admins; default json). Another org's invoice answers 404.
func (a *API) getInvoice(c *call) {
	ctx, org := c.ctx, c.org
	if !a.invoicesReady(ctx) {
		return
	}
	format := string(ctx.QueryArgs().Peek("format"))
	if format == "" {
		format = "json"
	}
	if _, ok := invoiceFormats[format]; !ok {
		a.badParam(ctx, fmt.Errorf("format: %q is not one of json, csv, pdf", format))
		return
	}
	id := c.params["id"]
	inv, ok, err := a.loadInvoice(org.ID, id)
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot read the invoice")
		return
	}
	if !ok {
		a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such invoice: "+id)
		return
	}
	var body []byte
	switch format {
	case "json":
		a.writeJSON(ctx, invoiceAnswer{Success: true, Invoice: inv.view()})
		return
	case "csv":
		body, err = inv.csv()
	default:
		body, err = inv.pdf()
	}
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot render invoice "+inv.Number+" as "+format)
		return
	}
	ctx.SetContentType(invoiceFormats[format])
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+inv.Number+"."+format+`"`)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(body)
}

// listInvoices serves GET /api/billing/invoices (admins): the summaries of
// the org's invoices, newest first.
func (a *API) listInvoices(c *call) {
	ctx, org := c.ctx, c.org
	if !a.invoicesReady(ctx) {
		return
	}
	var invs []*invoice
	var bad error
	err := a.opt.Store.ScanState(invoicePrefix(org.ID), func(key string, value []byte) bool {
		inv := &invoice{}
		if err := json.Unmarshal(value, inv); err != nil {
			bad = fmt.Errorf("cannot decode invoice %q: %w", key, err)
			return false
		}
		invs = append(invs, inv)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot read the invoices")
		return
	}
	slices.SortFunc(invs, func(x, y *invoice) int { return cmp.Compare(y.Seq, x.Seq) })
	out := make([]invoiceSummary, 0, len(invs))
	for _, inv := range invs {
		out = append(out, inv.summary())
	}
	a.writeJSON(ctx, invoiceList{Success: true, Invoices: out})
}
