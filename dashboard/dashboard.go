// Package dashboard serves the web dashboard of the admin listener: GET /
// (the single page) and the static files under /ui/ (our ES modules and
// stylesheet, served as written, and the vendored uPlot chart library).
//
// Everything is embedded with go:embed, so the binary needs neither npm nor
// network at run time. The page needs no key to load: it signs in with a
// member API key that it sends to the admin API as a bearer header.
//
// Every file is read, hashed and gzipped once, when the handler is built;
// serving is a map lookup. Answers carry a strong ETag (the content hash)
// with Cache-Control: no-cache, so browsers revalidate cheaply and never run
// stale code after an upgrade, and a strict Content-Security-Policy (no
// inline script or style, nothing from another origin, no framing).
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every answer of the dashboard: scripts,
// styles, images and connections (the API and the WebSocket feed) only from
// the admin listener itself, no inline code, and no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one embedded asset, ready to serve.
type file struct {
	body        []byte
	gzipped     []byte // nil when gzip does not make it smaller
	etag        string
	contentType string
}

// contentTypes maps the extensions of the embedded files to their types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
	".json": "application/json",
}

// Dashboard serves the embedded dashboard. Safe for concurrent use; it is
// immutable once built.
type Dashboard struct {
	files map[string]*file // by URL path: "/" and "/ui/..."
}

// New reads the embedded assets. It fails only on a broken build (a file of
// an unknown type, an unreadable embed).
func New() (*Dashboard, error) {
	d := &Dashboard{files: map[string]*file{}}
	err := fs.WalkDir(assets, "assets", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("cannot walk the dashboard assets at %q: %w", p, err)
		}
		if e.IsDir() {
			return nil
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return fmt.Errorf("cannot read the dashboard asset %q: %w", p, err)
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("cannot serve the dashboard asset %q: no content type for %q", p, path.Ext(p))
		}
		sum := sha256.Sum256(body)
		f := &file{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: ct}
		if ct != "image/png" {
			if gz := fasthttp.AppendGzipBytesLevel(nil, body, fasthttp.CompressBestCompression); len(gz) < len(body) {
				f.gzipped = gz
			}
		}
		rel := strings.TrimPrefix(p, "assets/")
		if rel == "index.html" {
			d.files["/"] = f
		}
		d.files["/ui/"+rel] = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d.files["/"] == nil {
		return nil, fmt.Errorf("cannot serve the dashboard: assets/index.html is missing")
	}
	return d, nil
}

// Handler returns the fasthttp handler of the dashboard, for
// api.Options.Dashboard. It panics only if the embedded assets are broken,
// which is a bug of the build (tests catch it), never of input.
func Handler() fasthttp.RequestHandler {
	d, err := New()
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return d.Serve
}

// Serve answers GET and HEAD of "/" and of the files under /ui/; anything
// else is a 404 or a 405 in the admin API's error shape.
func (d *Dashboard) Serve(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	f := d.files[string(ctx.Path())]
	if f == nil {
		fail(ctx, fasthttp.StatusNotFound, "not_found", "no such dashboard file: "+string(ctx.Path()))
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		h.Set("Allow", "GET, HEAD")
		fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "the dashboard answers GET and HEAD only")
		return
	}
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Encoding")
	h.SetContentType(f.contentType)
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(inm, f.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	body := f.body
	if f.gzipped != nil && ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set("Content-Encoding", "gzip")
		body = f.gzipped
	}
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		h.SetContentLength(len(body))
		return
	}
	ctx.SetBody(body)
}

// etagMatch tells whether an If-None-Match value names etag (or is "*").
func etagMatch(inm []byte, etag string) bool {
	for _, t := range bytes.Split(inm, []byte(",")) {
		t = bytes.TrimSpace(t)
		t = bytes.TrimPrefix(t, []byte("W/"))
		if string(t) == etag || string(t) == "*" {
			return true
		}
	}
	return false
}

// fail answers an error in the admin API's shape.
func fail(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	b, err := json.Marshal(errorBody{Error: errorInfo{Code: code, Message: msg}})
	if err != nil {
		b = []byte(`{"success":false,"error":{"code":"internal","message":"cannot encode the answer"}}`)
	}
	ctx.SetBody(b)
}

type errorBody struct {
	Success bool      `json:"success"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
