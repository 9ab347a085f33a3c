package proxy

import (
	"bytes"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/proxy/dialect"
)

// route picks the upstream of a request path and the path to forward:
// "/{upstream}/{rest}" → that upstream and "/{rest}"; otherwise the first
// upstream of the dialect that owns the path (/v1/messages… anthropic,
// /v1beta/… gemini, any other /v1/… openai) and the path unchanged.
func (p *Proxy) route(path []byte) (*upstream, []byte) {
	if len(path) < 2 || path[0] != '/' {
		return nil, nil
	}
	seg := path[1:]
	if i := bytes.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	if u, ok := p.byName[string(seg)]; ok {
		rest := path[1+len(seg):]
		if len(rest) == 0 {
			rest = path[:1]
		}
		return u, rest
	}
	switch {
	case hasSegmentPrefix(path, "/v1/messages"):
		return p.first[dialect.Anthropic], path
	case hasSegmentPrefix(path, "/v1beta") || hasSegmentPrefix(path, "/v1alpha"):
		return p.first[dialect.Gemini], path
	case hasSegmentPrefix(path, "/v1"):
		return p.first[dialect.OpenAI], path
	}
	return nil, nil
}

func hasSegmentPrefix(path []byte, prefix string) bool {
	if !bytes.HasPrefix(path, []byte(prefix)) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/' || path[len(prefix)] == '?'
}

// authenticate finds the member of the request's key and swaps the key for
// the upstream's. The key is looked for in X-Infermeter-Key, then where the
// upstream's SDK puts it: Authorization: Bearer (openai), x-api-key
// (anthropic), x-goog-api-key or ?key= (gemini); Authorization is also
// accepted for anthropic and gemini.
func (p *Proxy) authenticate(ctx *fasthttp.RequestCtx, up *upstream) (*account.Member, bool) {
	req := &ctx.Request
	h := &req.Header
	var (
		key   []byte
		where int
	)
	const (
		inInfermeter = iota + 1
		inBearer
		inXAPIKey
		inGoogHeader
		inQuery
	)
	if k := h.Peek(HeaderKey); len(k) > 0 {
		key, where = k, inInfermeter
	} else {
		switch up.dialect {
		case dialect.Anthropic:
			if k := h.Peek("X-Api-Key"); len(k) > 0 {
				key, where = k, inXAPIKey
			}
		case dialect.Gemini:
			if k := h.Peek("X-Goog-Api-Key"); len(k) > 0 {
				key, where = k, inGoogHeader
			} else if k := req.URI().QueryArgs().Peek("key"); len(k) > 0 {
				key, where = k, inQuery
			}
		}
		if where == 0 {
			if k := bearer(h.Peek("Authorization")); len(k) > 0 {
				key, where = k, inBearer
			}
		}
	}
	m, ok := p.opt.Accounts.Authenticate(key)
	if !ok {
		if len(key) > 0 {
			p.opt.AuthLimit.FailRequest(ctx, p.now())
		}
		return nil, false
	}
	// Remove the member key, then set the provider key where the provider
	// expects it.
	switch where {
	case inInfermeter:
		h.Del(HeaderKey)
	case inBearer:
		h.Del("Authorization")
	case inXAPIKey:
		h.Del("X-Api-Key")
	case inGoogHeader:
		h.Del("X-Goog-Api-Key")
	case inQuery:
		req.URI().QueryArgs().Del("key")
	}
	if up.key != "" {
		switch up.dialect {
		case dialect.OpenAI:
			h.Set("Authorization", up.bearer)
		case dialect.Anthropic:
			h.Set("X-Api-Key", up.key)
		case dialect.Gemini:
			h.Set("X-Goog-Api-Key", up.key)
		}
	}
	return m, true
}

func bearer(v []byte) []byte {
	const prefix = "Bearer "
	if len(v) > len(prefix) && strings.EqualFold(string(v[:len(prefix)]), prefix) {
		return bytes.TrimSpace(v[len(prefix):])
	}
	return nil
}

// modelEntry is what the proxy resolves once per distinct model of an
// upstream: its analytics name, its price and its metric label.
type modelEntry struct {
	name    string // "{upstream}/{model}"
	bare    string // the model as the client sent it
	price   *pricing.Price
	label   string // metric label: the bare model, or "other" past the cap
	metrics *modelMetrics
}

// maxModelLabels bounds the distinct model label values in /metrics.
const maxModelLabels = 200

// model returns the entry of a request's model (empty model → "unknown").
func (u *upstream) model(p *Proxy, model []byte) *modelEntry {
	if len(model) == 0 {
		model = []byte("unknown")
	}
	return u.models.get(model, func(m string) *modelEntry {
		e := &modelEntry{name: u.name + "/" + m, bare: m, label: m}
		if pr, ok := p.opt.Catalog.Lookup(u.name, u.dialect.String(), m); ok {
			e.price = pr
		}
		if p.labels.Add(1) > maxModelLabels {
			e.label = "other"
		}
		e.metrics = p.modelMetrics(u, e.label)
		return e
	})
}

// internDepartment returns the department header value as a shared string.
func (p *Proxy) internDepartment(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	return p.departments.get(b, func(s string) string { return s })
}

// maxTags bounds the tags of one request.
const maxTags = 16

// canonicalTags parses "k=v,k=v" into the canonical form: trimmed, empty and
// malformed pairs dropped, later duplicates win, sorted by key, at most
// maxTags pairs of at most 64 bytes each.
func (p *Proxy) canonicalTags(raw []byte) string {
	if len(raw) > 2048 {
		raw = raw[:2048]
	}
	return p.tags.get(raw, func(s string) string {
		pairs := map[string]string{}
		for _, part := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(part, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" || len(k) > 64 || len(v) > 64 || strings.ContainsAny(k, "=,") {
				continue
			}
			if _, seen := pairs[k]; !seen && len(pairs) >= maxTags {
				continue
			}
			pairs[k] = v
		}
		keys := make([]string, 0, len(pairs))
		for k := range pairs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(pairs[k])
		}
		return b.String()
	})
}
