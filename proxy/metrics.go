package proxy

import (
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// proxyMetrics are the proxy-wide metrics.
type proxyMetrics struct {
	set          *metrics.Set
	unrouted     *metrics.Counter
	refused      *metrics.Counter
	estimated    *metrics.Counter
	clientClosed *metrics.Counter
	unpriced     *metrics.Counter
	errors       [16]*metrics.Counter // by usage.ErrorType
}

func newProxyMetrics(s *metrics.Set) proxyMetrics {
	m := proxyMetrics{
		set:          s,
		unrouted:     s.NewCounter(`infermeter_proxy_unrouted_requests_total`),
		refused:      s.NewCounter(`infermeter_proxy_refused_requests_total`),
		estimated:    s.NewCounter(`infermeter_estimated_requests_total`),
		clientClosed: s.NewCounter(`infermeter_proxy_client_closed_total`),
		unpriced:     s.NewCounter(`infermeter_unpriced_requests_total`),
	}
	for _, et := range usage.ErrorTypes() {
		m.errors[et] = s.NewCounter(`infermeter_errors_total{type="` + et.String() + `"}`)
	}
	return m
}

// upstreamMetrics are resolved once per upstream.
type upstreamMetrics struct {
	unauthorized *metrics.Counter
	latency      *metrics.Histogram
	ttft         *metrics.Histogram
	byClass      [6]*metrics.Counter // requests by status class 1xx..5xx, [0] = no status
	perModel     sync.Map            // label → *modelMetrics
}

type modelMetrics struct {
	requests, input, output, cached, reasoning, cost *metrics.Counter
}

func newUpstreamMetrics(s *metrics.Set, name string) *upstreamMetrics {
	u := &upstreamMetrics{
		unauthorized: s.NewCounter(`infermeter_proxy_unauthorized_requests_total{upstream="` + name + `"}`),
		latency:      s.NewHistogram(`infermeter_request_duration_seconds{upstream="` + name + `"}`),
		ttft:         s.NewHistogram(`infermeter_time_to_first_token_seconds{upstream="` + name + `"}`),
	}
	classes := [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}
	for i, c := range classes {
		u.byClass[i] = s.NewCounter(`infermeter_requests_total{upstream="` + name + `",status="` + c + `"}`)
	}
	return u
}

func (p *Proxy) modelMetrics(up *upstream, label string) *modelMetrics {
	if v, ok := up.m.perModel.Load(label); ok {
		return v.(*modelMetrics)
	}
	l := `{upstream="` + up.name + `",model=` + quote(label)
	mm := &modelMetrics{
		requests:  p.m.set.GetOrCreateCounter(`infermeter_model_requests_total` + l + `}`),
		input:     p.m.set.GetOrCreateCounter(`infermeter_tokens_total` + l + `,kind="input"}`),
		output:    p.m.set.GetOrCreateCounter(`infermeter_tokens_total` + l + `,kind="output"}`),
		cached:    p.m.set.GetOrCreateCounter(`infermeter_tokens_total` + l + `,kind="cached"}`),
		reasoning: p.m.set.GetOrCreateCounter(`infermeter_tokens_total` + l + `,kind="reasoning"}`),
		cost:      p.m.set.GetOrCreateCounter(`infermeter_cost_nanodollars_total` + l + `}`),
	}
	v, _ := up.m.perModel.LoadOrStore(label, mm)
	return v.(*modelMetrics)
}

// quote renders a label value as a quoted Prometheus string.
func quote(s string) string {
	return string(appendJSONString(nil, s))
}

// observe updates /metrics for one finished request. Counters are resolved
// once per upstream and model.
func (p *Proxy) observe(up *upstream, me *modelEntry, ev *meter.Event) {
	cls := ev.Status / 100
	if cls < 0 || cls > 5 {
		cls = 0
	}
	up.m.byClass[cls].Inc()
	up.m.latency.Update(float64(ev.LatencyMicros) / 1e6)
	if ev.Stream && ev.TTFTMicros > 0 {
		up.m.ttft.Update(float64(ev.TTFTMicros) / 1e6)
	}
	if ev.ErrorType != usage.ErrNone && int(ev.ErrorType) < len(p.m.errors) && p.m.errors[ev.ErrorType] != nil {
		p.m.errors[ev.ErrorType].Inc()
	}
	if !ev.Priced && ev.Usage.Reported() {
		p.m.unpriced.Inc()
	}
	if me == nil {
		return
	}
	mm := me.metrics
	mm.requests.Inc()
	u := &ev.Usage
	mm.input.Add(int(u.Input.Value()))
	mm.output.Add(int(u.Output.Value()))
	mm.cached.Add(int(u.CacheRead.Value()))
	mm.reasoning.Add(int(u.Reasoning.Value()))
	mm.cost.Add(int(ev.CostNano))
}
