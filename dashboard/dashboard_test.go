package dashboard

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// serve runs one request through the dashboard's handler.
func serve(t *testing.T, d *Dashboard, method, path string, hdr map[string]string) *fasthttp.Response {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	for k, v := range hdr {
		ctx.Request.Header.Set(k, v)
	}
	d.Serve(&ctx)
	var r fasthttp.Response
	ctx.Response.CopyTo(&r)
	return &r
}

func TestServe(t *testing.T) {
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	check := func(path, wantType, wantBody string) {
		t.Helper()
		r := serve(t, d, "GET", path, nil)
		if r.StatusCode() != 200 {
			t.Fatalf("GET %s: %d", path, r.StatusCode())
		}
		if ct := string(r.Header.ContentType()); ct != wantType {
			t.Errorf("GET %s: content type %q, want %q", path, ct, wantType)
		}
		if !bytes.Contains(r.Body(), []byte(wantBody)) {
			t.Errorf("GET %s: body lacks %q", path, wantBody)
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Cache-Control":           "no-cache",
		} {
			if got := string(r.Header.Peek(k)); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, k, got, want)
			}
		}
		etag := string(r.Header.Peek("ETag"))
		if len(etag) < 10 || etag[0] != '"' {
			t.Fatalf("GET %s: ETag %q", path, etag)
		}
		// Revalidation: 304 without a body.
		nm := serve(t, d, "GET", path, map[string]string{"If-None-Match": `"other", ` + etag})
		if nm.StatusCode() != 304 || len(nm.Body()) != 0 {
			t.Errorf("GET %s with its ETag: %d, %d bytes", path, nm.StatusCode(), len(nm.Body()))
		}
	}
	check("/", "text/html; charset=utf-8", `<script type="module" src="/ui/js/app.js"></script>`)
	check("/ui/index.html", "text/html; charset=utf-8", `<title>infermeter</title>`)
	check("/ui/js/app.js", "text/javascript; charset=utf-8", `import`)
	check("/ui/app.css", "text/css; charset=utf-8", `prefers-color-scheme: dark`)
	check("/ui/vendor/uplot.esm.js", "text/javascript; charset=utf-8", `export { uPlot as default }`)
	check("/ui/vendor/uplot.LICENSE.txt", "text/plain; charset=utf-8", `MIT`)
	check("/ui/favicon.svg", "image/svg+xml", `<svg`)

	// The CSP allows no inline script or style and no other origin.
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("CSP allows %q", bad)
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "frame-ancestors 'none'") {
		t.Error("CSP allows framing")
	}

	// gzip when asked, the same bytes once inflated.
	plain := serve(t, d, "GET", "/ui/vendor/uplot.esm.js", nil)
	gz := serve(t, d, "GET", "/ui/vendor/uplot.esm.js", map[string]string{"Accept-Encoding": "gzip, br"})
	if string(gz.Header.Peek("Content-Encoding")) != "gzip" || len(gz.Body()) >= len(plain.Body()) {
		t.Fatalf("gzip: %q, %d bytes of %d", gz.Header.Peek("Content-Encoding"), len(gz.Body()), len(plain.Body()))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body()))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(zr); err != nil || !bytes.Equal(b, plain.Body()) {
		t.Fatalf("gzip body differs (%v)", err)
	}

	// HEAD: headers, no body.
	h := serve(t, d, "HEAD", "/", nil)
	if h.StatusCode() != 200 || len(h.Body()) != 0 {
		t.Errorf("HEAD /: %d, %d bytes, length %d", h.StatusCode(), len(h.Body()), h.Header.ContentLength())
	}

	// Unknown files and other methods.
	if r := serve(t, d, "GET", "/ui/nope.js", nil); r.StatusCode() != 404 || !bytes.Contains(r.Body(), []byte(`"code":"not_found"`)) {
		t.Errorf("GET /ui/nope.js: %d %s", r.StatusCode(), r.Body())
	}
	if r := serve(t, d, "GET", "/ui/", nil); r.StatusCode() != 404 {
		t.Errorf("GET /ui/: %d", r.StatusCode())
	}
	if r := serve(t, d, "POST", "/", nil); r.StatusCode() != 405 || string(r.Header.Peek("Allow")) != "GET, HEAD" {
		t.Errorf("POST /: %d %q", r.StatusCode(), r.Header.Peek("Allow"))
	}
}

// TestAssetsHaveNoInlineCode keeps the page within its CSP: no inline
// script, style or event handler in the HTML, and no use of innerHTML,
// eval or string timers in our JavaScript.
func TestAssetsHaveNoInlineCode(t *testing.T) {
	html, err := assets.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("index.html has %q", bad)
		}
	}
	entries, err := assets.ReadDir("assets/js/pages")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"assets/js/app.js", "assets/js/api.js", "assets/js/dom.js", "assets/js/charts.js", "assets/js/format.js"}
	for _, e := range entries {
		files = append(files, "assets/js/pages/"+e.Name())
	}
	for _, f := range files {
		b, err := assets.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{".innerHTML", "outerHTML =", "eval(", "new Function", "insertAdjacentHTML", "document.write", "setAttribute(\"style\""} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s uses %q", f, bad)
			}
		}
	}
}
