package proxy

import (
	"strings"

	"github.com/infermeter/infermeter/meter/pricing"
)

// PriceOf returns the catalog price the proxy applies to model as served by
// the configured upstream, and whether there is one. model is the analytics
// name "{upstream}/{model}" of a request log (a bare model is accepted too).
// The lookup is the proxy's own (the upstream's name and dialect, then the
// catalog's normalisations), so a details view recomputes exactly the cost
// that was recorded, as long as the catalog did not change since. An
// upstream that is not configured has no price. Safe for concurrent use.
func (p *Proxy) PriceOf(upstream, model string) (*pricing.Price, bool) {
	u, ok := p.byName[upstream]
	if !ok {
		return nil, false
	}
	bare := strings.TrimPrefix(model, upstream+"/")
	if bare == "" {
		bare = "unknown"
	}
	return p.opt.Catalog.Lookup(u.name, u.dialect.String(), bare)
}
