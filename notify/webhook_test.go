package notify_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/notify"
)

// receiver is a loopback webhook receiver answering statuses in turn (the
// last one from then on) and keeping the bodies it got.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	bodies   []string
	types    []string
}

func startReceiver(t *testing.T, statuses ...int) (*receiver, string) {
	t.Helper()
	r := &receiver{statuses: statuses}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		r.mu.Lock()
		defer r.mu.Unlock()
		st := r.statuses[min(len(r.bodies), len(r.statuses)-1)]
		r.bodies = append(r.bodies, string(ctx.PostBody()))
		r.types = append(r.types, string(ctx.Request.Header.ContentType()))
		if st == fasthttp.StatusTooManyRequests {
			ctx.Response.Header.Set("Retry-After", "0")
		}
		ctx.SetStatusCode(st)
		ctx.SetBodyString("answer")
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return r, "http://" + ln.Addr().String() + "/hook"
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func TestWebhookRetries(t *testing.T) {
	const body = `{"text":"alert"}`
	cases := []struct {
		name     string
		statuses []int
		attempts int
		fail     string // "" for success, else a part of the error
	}{
		{"ok at once", []int{200}, 1, ""},
		{"503 twice then 200", []int{503, 503, 200}, 3, ""},
		{"429 then 204", []int{429, 204}, 2, ""},
		{"always 500", []int{500}, 4, "status 500"},
		{"400 is not retried", []int{400}, 1, "status 400"},
		{"404 after a 502", []int{502, 404}, 2, "status 404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, url := startReceiver(t, c.statuses...)
			w := notify.NewWebhook(notify.WebhookOptions{Attempts: 4, Backoff: time.Millisecond})
			n, err := w.Post(context.Background(), url, []byte(body))
			if n != c.attempts {
				t.Errorf("attempts %d, want %d", n, c.attempts)
			}
			if c.fail == "" && err != nil {
				t.Fatalf("error %v", err)
			}
			if c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail) || !strings.Contains(err.Error(), url)) {
				t.Fatalf("error %v, want one with %q and the URL", err, c.fail)
			}
			got := r.got()
			if len(got) != c.attempts {
				t.Fatalf("the receiver got %d posts, want %d", len(got), c.attempts)
			}
			for i, b := range got {
				if b != body || r.types[i] != "application/json" {
					t.Fatalf("post %d: %q %q", i, r.types[i], b)
				}
			}
		})
	}
}

func TestWebhookConnectionErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook"
	_ = ln.Close() // nothing listens there now
	w := notify.NewWebhook(notify.WebhookOptions{Attempts: 3, Backoff: time.Millisecond})
	n, err := w.Post(context.Background(), url, []byte(`{}`))
	if n != 3 || err == nil {
		t.Fatalf("attempts %d, error %v; want 3 and an error", n, err)
	}
}

func TestWebhookStopsWithContext(t *testing.T) {
	_, url := startReceiver(t, 503)
	w := notify.NewWebhook(notify.WebhookOptions{Attempts: 5, Backoff: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	n, err := w.Post(ctx, url, []byte(`{}`))
	if n != 1 || err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Fatalf("attempts %d, error %v; want 1 and a cancellation", n, err)
	}
}
