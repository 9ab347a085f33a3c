package api

import (
	"bytes"
	"cmp"
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
	"github.com/infermeter/infermeter/meter/usage"
)

// Limits of POST /api/analytics/query.
const (
	// maxQueryDimensions bounds the dimensions of one query.
	maxQueryDimensions = 8
	// defaultQueryLimit is the number of rows when the body gives no limit.
	defaultQueryLimit = 100
	// maxQueryLimit bounds the rows of one answer.
	maxQueryLimit = 10000
	// maxFilterValues bounds the values of one dimension filter.
	maxFilterValues = 1000
	// maxTagKeyBytes is the longest tag key the proxy keeps.
	maxTagKeyBytes = 64
)

// queryValueKind tells how a metric value is compared and rendered.
type queryValueKind uint8

const (
	// kindCount: an integer count.
	kindCount queryValueKind = iota
	// kindUSD: nano-dollars, rendered as USD.
	kindUSD
	// kindMillis: microseconds, rendered as milliseconds with up to three
	// decimals.
	kindMillis
	// kindRatio: a ratio from 0 to 1.
	kindRatio
)

// queryValue is one metric of one row. n holds counts, nano-dollars and
// microseconds; f holds ratios.
type queryValue struct {
	n int64
	f float64
}

// queryMetric is one metric that a query may ask for.
type queryMetric struct {
	name, unit, description string
	kind                    queryValueKind
	// value computes the metric of a row from its merged cell and the number
	// of distinct members in it.
	value func(c *meter.Cell, members int) queryValue
}

// queryMetrics lists every metric, in the order GET /api/analytics/metrics
// shows them.
var queryMetrics = []queryMetric{
	{"requests", "count", "requests metered (successes and errors)", kindCount,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.Requests} }},
	{"input_tokens", "tokens", "every prompt token processed, cached and cache-write tokens included", kindCount,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.InputTokens} }},
	{"output_tokens", "tokens", "every generated token, reasoning tokens included", kindCount,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.OutputTokens} }},
	{"tokens", "tokens", "input_tokens + output_tokens", kindCount,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.InputTokens + c.OutputTokens} }},
	{"cost", "USD", "price of the usage from the model catalog, exact to the nano-dollar", kindUSD,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.CostNano} }},
	{"errors", "count", "requests that ended in an error", kindCount,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.Errors} }},
	{"error_rate", "ratio", "errors / requests, from 0 to 1 (0 without requests)", kindRatio,
		func(c *meter.Cell, _ int) queryValue {
			if c.Requests == 0 {
				return queryValue{}
			}
			return queryValue{f: float64(c.Errors) / float64(c.Requests)}
		}},
	{"avg_latency_ms", "ms", "mean time to the end of the response, to the microsecond", kindMillis,
		func(c *meter.Cell, _ int) queryValue {
			if c.Requests == 0 {
				return queryValue{}
			}
			return queryValue{n: (c.LatencyMicros + c.Requests/2) / c.Requests}
		}},
	{"p95_latency_ms", "ms", "95th percentile of latency, interpolated in the merged 24-bucket log histogram of the row's cells", kindMillis,
		func(c *meter.Cell, _ int) queryValue { return queryValue{n: c.LatencyQuantile(0.95)} }},
	{"active_members", "count", "distinct members with requests in the row", kindCount,
		func(_ *meter.Cell, members int) queryValue { return queryValue{n: int64(members)} }},
}

// queryDimKind is a dimension of a query.
type queryDimKind uint8

const (
	dimUser queryDimKind = iota
	dimModel
	dimDepartment
	dimBillingMode
	dimCategory
	dimErrorType
	dimTag
	dimHour
	dimDay
	dimWeek
	dimMonth
)

// queryDimDoc documents one dimension.
type queryDimDoc struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Example     string `json:"example"`
}

// queryDimensions lists every dimension in the order of queryDimKind.
var queryDimensions = []queryDimDoc{
	{"user", "member id", "uuid-1"},
	{"model", "{upstream}/{model}", "openai/gpt-4o"},
	{"department", "department of the request (X-Infermeter-Department, else the member's)", "research"},
	{"billing_mode", "org_pays or member_pays", "org_pays"},
	{"category", "endpoint category: " + strings.Join(categoryNames(), ", "), "chat_completions"},
	{"error_type", `failure of the request: "" for a success, else ` + strings.Join(errorTypeNames(), ", "), "rate_limit"},
	{"tag:KEY", `value of the request's tag KEY, as in tag:team ("" when the request had none)`, "a"},
	{"hour", "start of the hour, RFC 3339 in the org's timezone", "2026-11-03T14:00:00+01:00"},
	{"day", "YYYY-MM-DD in the org's timezone", "2026-11-03"},
	{"week", "ISO 8601 week (Monday to Sunday) in the org's timezone", "2026-W45"},
	{"month", "YYYY-MM in the org's timezone", "2026-11"},
}

// queryDim is one dimension asked (or filtered on).
type queryDim struct {
	kind queryDimKind
	// name is the dimension as asked ("tag:team"): the row's key.
	name string
	// tag is the tag key of a tag dimension.
	tag string
}

// queryDimValue is the value of one dimension in one row.
type queryDimValue struct {
	s string
	// ord orders time dimensions chronologically.
	ord int64
}

// queryFilter keeps the cells whose dimension value is one of values.
type queryFilter struct {
	dim    queryDim
	values map[string]struct{}
}

// querySort is one sort key: a metric (index into query.metrics) or a
// dimension (index into query.dims).
type querySort struct {
	metric int
	dim    int
	desc   bool
}

// query is a parsed and validated POST /api/analytics/query body.
type query struct {
	metrics []*queryMetric
	dims    []queryDim
	filters []queryFilter
	period  period
	sort    []querySort
	limit   int
}

// queryFields are the top-level fields of a query body.
var queryFields = []string{"metrics", "dimensions", "filters", "sort", "limit"}

// parseQuery parses and validates a query body. loc is the org's timezone
// and now the clock, for the dates. Every error names the field at fault.
func parseQuery(body []byte, loc *time.Location, now time.Time) (*query, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New(`body: empty; want a JSON object such as {"metrics":["requests"],"dimensions":["user"]}`)
	}
	if !gjson.ValidBytes(body) {
		return nil, errors.New("body: invalid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("body: want a JSON object, got %s", shown(root))
	}
	f, err := objectFields("body", root, queryFields)
	if err != nil {
		return nil, err
	}
	q := &query{limit: defaultQueryLimit}
	if err := q.parseMetrics(f["metrics"]); err != nil {
		return nil, err
	}
	if err := q.parseDimensions(f["dimensions"]); err != nil {
		return nil, err
	}
	if err := q.parseFilters(f["filters"], loc, now); err != nil {
		return nil, err
	}
	if err := q.parseSort(f["sort"]); err != nil {
		return nil, err
	}
	if v := f["limit"]; v.Exists() && v.Type != gjson.Null {
		n, err := strconv.Atoi(v.Raw)
		if v.Type != gjson.Number || err != nil || n < 1 || n > maxQueryLimit {
			return nil, fmt.Errorf("limit: want a whole number from 1 to %d, got %s", maxQueryLimit, shown(v))
		}
		q.limit = n
	}
	return q, nil
}

// objectFields returns the fields of obj by name, refusing unknown and
// repeated ones. where names obj in messages.
func objectFields(where string, obj gjson.Result, accepted []string) (map[string]gjson.Result, error) {
	out := make(map[string]gjson.Result, len(accepted))
	var err error
	obj.ForEach(func(k, v gjson.Result) bool {
		name := k.String()
		if !slices.Contains(accepted, name) {
			err = fmt.Errorf("%s: unknown field %s; accepted: %s", where, quoted(name), strings.Join(accepted, ", "))
			return false
		}
		if _, dup := out[name]; dup {
			err = fmt.Errorf("%s: field %q is given twice", where, name)
			return false
		}
		out[name] = v
		return true
	})
	return out, err
}

// stringList reads an array of strings; null or absent is an empty list.
func stringList(where string, v gjson.Result) ([]string, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, fmt.Errorf("%s: want an array of strings, got %s", where, shown(v))
	}
	var out []string
	var err error
	v.ForEach(func(_, e gjson.Result) bool {
		if e.Type != gjson.String {
			err = fmt.Errorf("%s[%d]: want a string, got %s", where, len(out), shown(e))
			return false
		}
		out = append(out, e.String())
		return true
	})
	return out, err
}

func (q *query) parseMetrics(v gjson.Result) error {
	names, err := stringList("metrics", v)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("metrics: want at least one of %s", metricNames())
	}
	for i, name := range names {
		j := slices.IndexFunc(queryMetrics, func(m queryMetric) bool { return m.name == name })
		if j < 0 {
			return fmt.Errorf("metrics[%d]: %s is not one of %s", i, quoted(name), metricNames())
		}
		if slices.Contains(q.metrics, &queryMetrics[j]) {
			return fmt.Errorf("metrics[%d]: %q is asked twice", i, name)
		}
		q.metrics = append(q.metrics, &queryMetrics[j])
	}
	return nil
}

func (q *query) parseDimensions(v gjson.Result) error {
	names, err := stringList("dimensions", v)
	if err != nil {
		return err
	}
	if len(names) > maxQueryDimensions {
		return fmt.Errorf("dimensions: at most %d, got %d", maxQueryDimensions, len(names))
	}
	for i, name := range names {
		d, err := parseDim(name)
		if err != nil {
			return fmt.Errorf("dimensions[%d]: %w", i, err)
		}
		if slices.ContainsFunc(q.dims, func(o queryDim) bool { return o.name == d.name }) {
			return fmt.Errorf("dimensions[%d]: %q is asked twice", i, name)
		}
		q.dims = append(q.dims, d)
	}
	return nil
}

// parseDim parses a dimension name.
func parseDim(name string) (queryDim, error) {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		if key == "" || len(key) > maxTagKeyBytes || strings.ContainsAny(key, "=,") || strings.TrimSpace(key) != key {
			return queryDim{}, fmt.Errorf("%s needs a tag key (1 to %d bytes, no '=', ',' or surrounding spaces), as in tag:team", quoted(name), maxTagKeyBytes)
		}
		return queryDim{kind: dimTag, name: name, tag: key}, nil
	}
	for i, d := range queryDimensions {
		if queryDimKind(i) != dimTag && d.Name == name {
			return queryDim{kind: queryDimKind(i), name: name}, nil
		}
	}
	return queryDim{}, fmt.Errorf("%s is not one of %s", quoted(name), dimensionNames())
}

// dateFilters are the filter keys that set the period.
var dateFilters = []string{"start_date", "end_date", "range"}

func (q *query) parseFilters(v gjson.Result, loc *time.Location, now time.Time) error {
	var args fasthttp.Args
	if v.Exists() && v.Type != gjson.Null {
		if !v.IsObject() {
			return fmt.Errorf("filters: want an object, got %s", shown(v))
		}
		seen := map[string]bool{}
		var err error
		v.ForEach(func(k, fv gjson.Result) bool {
			key := k.String()
			if seen[key] {
				err = fmt.Errorf("filters: field %q is given twice", key)
				return false
			}
			seen[key] = true
			where := "filters." + key
			if slices.Contains(dateFilters, key) {
				if fv.Type != gjson.String {
					err = fmt.Errorf("%s: want a string, got %s", where, shown(fv))
					return false
				}
				args.Set(key, fv.String())
				return true
			}
			d, derr := parseDim(key)
			if derr != nil {
				err = fmt.Errorf("filters: unknown filter %s; accepted: %s, %s", quoted(key), strings.Join(dateFilters, ", "), dimensionNames())
				return false
			}
			err = q.parseFilter(where, d, fv, loc)
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	p, err := parsePeriod(&args, loc, now)
	if err != nil {
		return fmt.Errorf("filters.%w", err)
	}
	q.period = p
	return nil
}

// parseFilter reads the values of a dimension filter, in the canonical form
// of the dimension's values.
func (q *query) parseFilter(where string, d queryDim, v gjson.Result, loc *time.Location) error {
	vals, err := stringList(where, v)
	if err != nil {
		return err
	}
	if len(vals) == 0 || len(vals) > maxFilterValues {
		return fmt.Errorf("%s: want 1 to %d values, got %d", where, maxFilterValues, len(vals))
	}
	f := queryFilter{dim: d, values: make(map[string]struct{}, len(vals))}
	for i, s := range vals {
		c, err := canonicalValue(d.kind, s, loc)
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		f.values[c] = struct{}{}
	}
	q.filters = append(q.filters, f)
	return nil
}

// canonicalValue checks a filter value of a dimension and returns it as the
// dimension renders it.
func canonicalValue(k queryDimKind, s string, loc *time.Location) (string, error) {
	switch k {
	case dimBillingMode:
		if s != account.OrgPays && s != account.MemberPays {
			return "", fmt.Errorf("%s is not one of %s, %s", quoted(s), account.OrgPays, account.MemberPays)
		}
	case dimCategory:
		if _, ok := usage.ParseCategory(s); !ok {
			return "", fmt.Errorf("%s is not one of %s", quoted(s), strings.Join(categoryNames(), ", "))
		}
	case dimErrorType:
		if _, ok := usage.ParseErrorType(s); !ok {
			return "", fmt.Errorf(`%s is not "" (a success) or one of %s`, quoted(s), strings.Join(errorTypeNames(), ", "))
		}
	case dimHour:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", fmt.Errorf("%s is not an RFC 3339 time", quoted(s))
		}
		sec := t.Unix()
		_, off := t.In(loc).Zone()
		local := sec + int64(off)
		return hourKey(local-((local%3600)+3600)%3600-int64(off), loc), nil
	case dimDay:
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return "", fmt.Errorf("%s is not a day (YYYY-MM-DD)", quoted(s))
		}
	case dimWeek:
		ok := len(s) == 8 && s[4:6] == "-W" && strings.Trim(s[:4]+s[6:], "0123456789") == ""
		if w, _ := strconv.Atoi(s[min(6, len(s)):]); !ok || w < 1 || w > 53 {
			return "", fmt.Errorf("%s is not an ISO week (YYYY-Www, as in 2026-W45)", quoted(s))
		}
	case dimMonth:
		if _, err := time.Parse("2006-01", s); err != nil {
			return "", fmt.Errorf("%s is not a month (YYYY-MM)", quoted(s))
		}
	}
	return s, nil
}

// querySortFields are the fields of a sort key.
var querySortFields = []string{"field", "order"}

func (q *query) parseSort(v gjson.Result) error {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		return fmt.Errorf(`sort: want an array of {"field","order"} objects, got %s`, shown(v))
	}
	var err error
	i := 0
	v.ForEach(func(_, e gjson.Result) bool {
		err = q.parseSortKey(fmt.Sprintf("sort[%d]", i), e)
		i++
		return err == nil
	})
	return err
}

func (q *query) parseSortKey(where string, e gjson.Result) error {
	if !e.IsObject() {
		return fmt.Errorf(`%s: want an object {"field","order"}, got %s`, where, shown(e))
	}
	f, err := objectFields(where, e, querySortFields)
	if err != nil {
		return err
	}
	field := f["field"]
	if field.Type != gjson.String {
		return fmt.Errorf("%s.field: want the name of a metric or dimension of the query, got %s", where, shown(field))
	}
	name := field.String()
	s := querySort{metric: q.metricIndex(name), dim: -1, desc: true}
	if s.metric < 0 {
		s.dim = slices.IndexFunc(q.dims, func(d queryDim) bool { return d.name == name })
		s.desc = false
	}
	if s.metric < 0 && s.dim < 0 {
		return fmt.Errorf("%s.field: %s is not a metric or dimension of this query (%s)", where, quoted(name), strings.Join(q.fieldNames(), ", "))
	}
	if slices.ContainsFunc(q.sort, func(o querySort) bool { return o.metric == s.metric && o.dim == s.dim }) {
		return fmt.Errorf("%s.field: %q is sorted on twice", where, name)
	}
	if o := f["order"]; o.Exists() {
		switch {
		case o.Type == gjson.String && o.Str == "asc":
			s.desc = false
		case o.Type == gjson.String && o.Str == "desc":
			s.desc = true
		default:
			return fmt.Errorf("%s.order: want \"asc\" or \"desc\", got %s", where, shown(o))
		}
	}
	q.sort = append(q.sort, s)
	return nil
}

// metricIndex returns the index of a metric of the query, or -1.
func (q *query) metricIndex(name string) int {
	return slices.IndexFunc(q.metrics, func(m *queryMetric) bool { return m.name == name })
}

// fieldNames lists the dimensions and metrics of the query.
func (q *query) fieldNames() []string {
	var out []string
	for _, d := range q.dims {
		out = append(out, d.name)
	}
	for _, m := range q.metrics {
		out = append(out, m.name)
	}
	return out
}

func metricNames() string {
	names := make([]string, len(queryMetrics))
	for i, m := range queryMetrics {
		names[i] = m.name
	}
	return strings.Join(names, ", ")
}

func dimensionNames() string {
	names := make([]string, len(queryDimensions))
	for i, d := range queryDimensions {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

// errorTypeNames lists the error types (not the "" of a success).
func errorTypeNames() []string {
	var out []string
	for _, e := range usage.ErrorTypes() {
		out = append(out, e.String())
	}
	return out
}

func categoryNames() []string {
	var out []string
	for _, c := range usage.Categories() {
		out = append(out, c.String())
	}
	return out
}

// shown renders a JSON value for a message, cut to a readable length.
func shown(v gjson.Result) string {
	if !v.Exists() {
		return "nothing"
	}
	return cut(v.Raw)
}

// quoted quotes a name for a message, cut to a readable length.
func quoted(s string) string { return cut(strconv.Quote(s)) }

func cut(s string) string {
	const most = 80
	if len(s) <= most {
		return s
	}
	return strings.ToValidUTF8(s[:most], "") + "…"
}

// hourKey renders the hour starting at unix second h in loc.
func hourKey(h int64, loc *time.Location) string {
	return time.Unix(h, 0).In(loc).Format(time.RFC3339)
}

// queryTimeKeys are the calendar values of one cell hour.
type queryTimeKeys [4]queryDimValue // hour, day, week, month

func timeKeysOf(h int64, loc *time.Location) *queryTimeKeys {
	t := time.Unix(h, 0).In(loc)
	y, m, d := t.Date()
	wy, w := t.ISOWeek()
	return &queryTimeKeys{
		{s: t.Format(time.RFC3339), ord: h},
		{s: t.Format(time.DateOnly), ord: int64(y)*10000 + int64(m)*100 + int64(d)},
		{s: fmt.Sprintf("%04d-W%02d", wy, w), ord: int64(wy)*100 + int64(w)},
		{s: t.Format("2006-01"), ord: int64(y)*100 + int64(m)},
	}
}

// queryGroup is one row being summed.
type queryGroup struct {
	dims    []queryDimValue
	cell    meter.Cell
	members map[string]struct{}
	vals    []queryValue
}

// runQuery sums the cells of org (of user, when not "") into the rows of q,
// sorted, and returns them with the number of rows before the limit.
func (a *API) runQuery(q *query, org *account.Org, user string) ([]*queryGroup, int) {
	loc := org.Location
	wantMembers := slices.ContainsFunc(q.metrics, func(m *queryMetric) bool { return m.name == "active_members" })
	groups := map[string]*queryGroup{}
	times := map[int64]*queryTimeKeys{}
	value := func(d *queryDim, k *meter.CellKey) queryDimValue {
		switch d.kind {
		case dimUser:
			return queryDimValue{s: k.User}
		case dimModel:
			return queryDimValue{s: k.Model}
		case dimDepartment:
			return queryDimValue{s: k.Department}
		case dimBillingMode:
			return queryDimValue{s: k.BillingMode}
		case dimCategory:
			return queryDimValue{s: k.Category.String()}
		case dimErrorType:
			return queryDimValue{s: k.ErrorType.String()}
		case dimTag:
			return queryDimValue{s: tagValue(k.Tags, d.tag)}
		}
		tk := times[k.Hour]
		if tk == nil {
			tk = timeKeysOf(k.Hour, loc)
			times[k.Hour] = tk
		}
		return tk[d.kind-dimHour]
	}
	var key []byte
	scan := a.scan
	if q.hourly() {
		scan = a.scanHours
	}
	scan(org.ID, user, q.period.Start.Unix(), q.period.End.Unix(), func(k *meter.CellKey, c *meter.Cell) {
		for i := range q.filters {
			f := &q.filters[i]
			if _, ok := f.values[value(&f.dim, k).s]; !ok {
				return
			}
		}
		key = key[:0]
		for i := range q.dims {
			s := value(&q.dims[i], k).s
			key = strconv.AppendInt(key, int64(len(s)), 10)
			key = append(key, ':')
			key = append(key, s...)
		}
		g := groups[string(key)]
		if g == nil {
			g = &queryGroup{dims: make([]queryDimValue, len(q.dims))}
			for i := range q.dims {
				g.dims[i] = value(&q.dims[i], k)
			}
			if wantMembers {
				g.members = map[string]struct{}{}
			}
			groups[string(key)] = g
		}
		g.cell.Merge(c)
		if wantMembers && c.Requests > 0 {
			g.members[k.User] = struct{}{}
		}
	})
	if len(q.dims) == 0 && len(groups) == 0 {
		groups[""] = &queryGroup{members: map[string]struct{}{}}
	}
	rows := make([]*queryGroup, 0, len(groups))
	for _, g := range groups {
		g.vals = make([]queryValue, len(q.metrics))
		for i, m := range q.metrics {
			g.vals[i] = m.value(&g.cell, len(g.members))
		}
		rows = append(rows, g)
	}
	slices.SortFunc(rows, func(x, y *queryGroup) int {
		for _, s := range q.sort {
			var c int
			if s.metric >= 0 {
				c = compareValues(q.metrics[s.metric].kind, x.vals[s.metric], y.vals[s.metric])
			} else {
				c = compareDims(x.dims[s.dim], y.dims[s.dim])
			}
			if s.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		for i := range q.dims {
			if c := compareDims(x.dims[i], y.dims[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	total := len(rows)
	return rows[:min(total, q.limit)], total
}

func compareValues(k queryValueKind, x, y queryValue) int {
	if k == kindRatio {
		return cmp.Compare(x.f, y.f)
	}
	return cmp.Compare(x.n, y.n)
}

// compareDims orders dimension values: chronologically for time dimensions
// (ord), by bytes otherwise.
func compareDims(x, y queryDimValue) int {
	if c := cmp.Compare(x.ord, y.ord); c != 0 {
		return c
	}
	return strings.Compare(x.s, y.s)
}

// queryRows renders rows as JSON objects with one key per dimension and
// metric asked, in the order asked.
type queryRows struct {
	q    *query
	rows []*queryGroup
}

// MarshalJSON renders the rows.
func (r queryRows) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(r.rows)*(16+24*(len(r.q.dims)+len(r.q.metrics))))
	b = append(b, '[')
	for i, g := range r.rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j := range r.q.dims {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r.q.dims[j].name)
			b = append(b, ':')
			b = appendJSONString(b, g.dims[j].s)
		}
		for j, m := range r.q.metrics {
			if j > 0 || len(r.q.dims) > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m.name)
			b = append(b, ':')
			v := g.vals[j]
			switch m.kind {
			case kindUSD:
				b = AppendUSD(b, v.n)
			case kindMillis:
				b = appendMillis(b, v.n)
			case kindRatio:
				b = strconv.AppendFloat(b, v.f, 'f', -1, 64)
			default:
				b = strconv.AppendInt(b, v.n, 10)
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		return append(b, `""`...)
	}
	return append(b, q...)
}

// appendMillis appends microseconds us as milliseconds with up to three
// decimals, exactly.
func appendMillis(b []byte, us int64) []byte {
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	d := []byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	for d[len(d)-1] == '0' {
		d = d[:len(d)-1]
	}
	b = append(b, '.')
	return append(b, d...)
}

type queryAnswer struct {
	Success bool      `json:"success"`
	Rows    queryRows `json:"rows"`
	// TotalRows counts the rows before the limit.
	TotalRows int        `json:"total_rows"`
	Truncated bool       `json:"truncated"`
	Period    periodJSON `json:"period"`
}

// analyticsQuery serves POST /api/analytics/query: the metrics asked,
// grouped by the dimensions asked, over the cells that pass the filters,
// sorted and limited. Admins query their org; members their own requests
// only (a filter on another member is 403).
func (a *API) analyticsQuery(c *call) {
	ctx := c.ctx
	q, err := parseQuery(ctx.PostBody(), c.org.Location, a.now())
	if err != nil {
		a.fail(ctx, fasthttp.StatusBadRequest, "invalid_parameter", err.Error())
		return
	}
	user := c.user()
	if user != "" {
		for _, f := range q.filters {
			if f.dim.kind != dimUser {
				continue
			}
			for v := range f.values {
				if v != user {
					a.fail(ctx, fasthttp.StatusForbidden, "forbidden", "filters.user: members see only their own requests")
					return
				}
			}
		}
	}
	rows, total := a.runQuery(q, c.org, user)
	a.writeJSON(ctx, queryAnswer{
		Success:   true,
		Rows:      queryRows{q: q, rows: rows},
		TotalRows: total,
		Truncated: total > len(rows),
		Period: periodJSON{Start: q.period.Start.Format(time.RFC3339), End: q.period.End.Format(time.RFC3339),
			Timezone: c.org.Location.String()},
	})
}

type queryMetricDoc struct {
	Name        string `json:"name"`
	Unit        string `json:"unit"`
	Description string `json:"description"`
}

type queryFilterDoc struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Example     any    `json:"example"`
}

type querySortDoc struct {
	Fields       string   `json:"fields"`
	Orders       []string `json:"orders"`
	DefaultOrder string   `json:"default_order"`
	Default      string   `json:"default"`
	Ties         string   `json:"ties"`
}

type queryLimitDoc struct {
	Min     int `json:"min"`
	Max     int `json:"max"`
	Default int `json:"default"`
}

type metricsAnswer struct {
	Success       bool             `json:"success"`
	Metrics       []queryMetricDoc `json:"metrics"`
	Dimensions    []queryDimDoc    `json:"dimensions"`
	MaxDimensions int              `json:"max_dimensions"`
	Filters       []queryFilterDoc `json:"filters"`
	Sort          querySortDoc     `json:"sort"`
	Limit         queryLimitDoc    `json:"limit"`
	Timezone      string           `json:"timezone"`
	Example       json.RawMessage  `json:"example"`
}

// queryExample is a query body, shown by GET /api/analytics/metrics.
const queryExample = `{"metrics":["requests","cost"],"dimensions":["user","day"],` +
	`"filters":{"start_date":"2026-11-01","end_date":"2026-11-30","model":["openai/gpt-4o"],"tag:team":["a"]},` +
	`"sort":[{"field":"cost","order":"desc"}],"limit":100}`

// analyticsMetrics serves GET /api/analytics/metrics: what POST
// /api/analytics/query accepts.
func (a *API) analyticsMetrics(c *call) {
	ans := metricsAnswer{
		Success:       true,
		Dimensions:    queryDimensions,
		MaxDimensions: maxQueryDimensions,
		Filters: []queryFilterDoc{
			{"start_date", "first day (YYYY-MM-DD, in the org's timezone) or RFC 3339 time; default: 29 days before today", "2026-11-01"},
			{"end_date", "last day, inclusive (YYYY-MM-DD) or RFC 3339 time (exclusive); default: today", "2026-11-30"},
			{"range", "today, 7d or 30d, instead of start_date", "7d"},
		},
		Sort: querySortDoc{
			Fields:       "a metric or dimension asked; an array of {\"field\",\"order\"}, applied in turn",
			Orders:       []string{"asc", "desc"},
			DefaultOrder: "desc for a metric, asc for a dimension",
			Default:      "by the dimensions asked, in order, ascending",
			Ties:         "broken by the dimensions asked, in order, ascending; time dimensions chronologically",
		},
		Limit:    queryLimitDoc{Min: 1, Max: maxQueryLimit, Default: defaultQueryLimit},
		Timezone: c.org.Location.String(),
		Example:  json.RawMessage(queryExample),
	}
	for _, m := range queryMetrics {
		ans.Metrics = append(ans.Metrics, queryMetricDoc{Name: m.name, Unit: m.unit, Description: m.description})
	}
	for _, d := range queryDimensions {
		ans.Filters = append(ans.Filters, queryFilterDoc{Name: d.Name,
			Description: fmt.Sprintf("array of 1 to %d values of the dimension %s; a request counts when its value is one of them", maxFilterValues, d.Name),
			Example:     []string{d.Example}})
	}
	a.writeJSON(c.ctx, ans)
}

// hourly reports whether q needs hourly cells: an hour dimension, or a
// filter on one.
func (q *query) hourly() bool {
	for i := range q.dims {
		if q.dims[i].kind == dimHour {
			return true
		}
	}
	for i := range q.filters {
		if q.filters[i].dim.kind == dimHour {
			return true
		}
	}
	return false
}
