package sim

import (
	"testing"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

func BenchmarkHandlerChat(b *testing.B) {
	for _, rec := range []struct {
		name string
		max  int
	}{{"norecord", -1}, {"record", 0}} {
		b.Run(rec.name, func(b *testing.B) {
			s := New(Options{MaxRecorded: rec.max})
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.SetRequestURI("/v1/chat/completions")
			ctx.Request.Header.Set("Authorization", "Bearer sk-bench")
			ctx.Request.Header.Set("X-Sim-Input-Tokens", "120")
			ctx.Request.SetBodyString(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`)
			s.Handler(&ctx)
			if got := gjson.GetBytes(ctx.Response.Body(), "usage.prompt_tokens").Int(); got != 120 {
				b.Fatalf("prompt_tokens %d: %s", got, ctx.Response.Body())
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(ctx.Response.Body())))
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				s.Handler(&ctx)
			}
		})
	}
}
