package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults of WebhookOptions.
const (
	DefaultWebhookAttempts   = 5
	DefaultWebhookBackoff    = 500 * time.Millisecond
	DefaultWebhookTimeout    = 10 * time.Second
	DefaultWebhookRetryAfter = 60 * time.Second
)

// maxErrorBody bounds the part of a refusal's body quoted in an error.
const maxErrorBody = 200

// WebhookOptions configure a Webhook. Zero values take the defaults.
type WebhookOptions struct {
	// Attempts is how many times a post is tried at most (default 5).
	Attempts int
	// Backoff is the wait before the first retry, doubled before each
	// further one (default 500ms).
	Backoff time.Duration
	// Timeout bounds each attempt, from dialling to the whole answer
	// (default 10s).
	Timeout time.Duration
	// MaxRetryAfter caps the wait a Retry-After header may ask for
	// (default 60s).
	MaxRetryAfter time.Duration
}

// Webhook posts JSON bodies to URLs, retrying on connection errors, 5xx
// and 429 with exponential backoff. Safe for concurrent use.
type Webhook struct {
	opt WebhookOptions
	c   *fasthttp.Client
}

// NewWebhook returns a Webhook with opt (defaults filled in).
func NewWebhook(opt WebhookOptions) *Webhook {
	if opt.Attempts <= 0 {
		opt.Attempts = DefaultWebhookAttempts
	}
	if opt.Backoff <= 0 {
		opt.Backoff = DefaultWebhookBackoff
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultWebhookTimeout
	}
	if opt.MaxRetryAfter <= 0 {
		opt.MaxRetryAfter = DefaultWebhookRetryAfter
	}
	return &Webhook{
		opt: opt,
		c: &fasthttp.Client{
			Name:                "infermeter-webhook",
			MaxIdleConnDuration: 30 * time.Second,
			ReadTimeout:         opt.Timeout,
			WriteTimeout:        opt.Timeout,
		},
	}
}

// Post sends body as an application/json POST to url. It retries on
// connection errors, 5xx and 429 (waiting what Retry-After asks, up to
// MaxRetryAfter, or the backoff), not on other answers below 200 or from
// 300 up; it returns how many attempts it made and, when none got a 2xx,
// the last error. It returns early, wrapping ctx's error, when ctx ends.
func (w *Webhook) Post(ctx context.Context, url string, body []byte) (attempts int, err error) {
	backoff := w.opt.Backoff
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return attempt - 1, fmt.Errorf("cannot post to webhook %q: %w", url, err)
		}
		retry, wait, err := w.once(ctx, url, body)
		if err == nil {
			return attempt, nil
		}
		if !retry || attempt >= w.opt.Attempts {
			return attempt, fmt.Errorf("cannot post to webhook %q (attempt %d of %d): %w", url, attempt, w.opt.Attempts, err)
		}
		if wait <= 0 {
			wait = backoff
		}
		backoff *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("cannot post to webhook %q (attempt %d of %d: %w): %w", url, attempt, w.opt.Attempts, err, ctx.Err())
		case <-t.C:
		}
	}
}

// once makes one attempt. It returns whether a failure may be retried and
// the wait the server asked for (0 when it asked none).
func (w *Webhook) once(ctx context.Context, url string, body []byte) (retry bool, wait time.Duration, err error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	timeout := w.opt.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	if err := w.c.DoTimeout(req, resp, timeout); err != nil {
		// Connection errors and timeouts are worth another try; a URL
		// fasthttp cannot use is not.
		if errors.Is(err, fasthttp.ErrorInvalidURI) {
			return false, 0, err
		}
		return true, 0, err
	}
	code := resp.StatusCode()
	if code >= 200 && code < 300 {
		return false, 0, nil
	}
	b := resp.Body()
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody]
	}
	err = fmt.Errorf("status %d: %q", code, b)
	if code != fasthttp.StatusTooManyRequests && code < 500 {
		return false, 0, err
	}
	return true, w.retryAfter(resp.Header.Peek("Retry-After")), err
}

// retryAfter reads a Retry-After value (seconds or an HTTP date), capped
// at MaxRetryAfter; 0 when absent or unreadable.
func (w *Webhook) retryAfter(v []byte) time.Duration {
	if len(v) == 0 {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(string(v)); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(string(v)); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		return 0
	}
	return min(d, w.opt.MaxRetryAfter)
}
