package feed

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/websocket"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/usage"
)

// TestMain checks that no goroutine outlives the tests. Two of fasthttp's
// are not ours: the worker pool cleaner sleeps out its period after
// Shutdown, and the server date updater lives as long as the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// Member keys of the test directory.
const (
	keyAlice = "im-alice" // admin of acme
	keyBob   = "im-bob"   // member of acme
	keyEve   = "im-eve"   // admin of globex
)

// testNow is the clock of every test hub: 2026-03-10 12:00 UTC.
var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// testDir returns acme (alice admin, bob member with a 0.001 USD monthly
// limit; a 0.002 USD budget) and globex (eve admin).
func testDir(t testing.TB) *account.Directory {
	t.Helper()
	d := account.New()
	d.PutOrg(account.Org{ID: "acme", Name: "Acme", MonthlyBudgetNano: 2_000_000})
	d.PutOrg(account.Org{ID: "globex", Name: "Globex"})
	for _, m := range []account.Member{
		{ID: "alice", Org: "acme", Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(keyAlice))},
		{ID: "bob", Org: "acme", Role: account.RoleMember, MonthlyLimitNano: 1_000_000, KeyHash: account.HashKey([]byte(keyBob))},
		{ID: "eve", Org: "globex", Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(keyEve))},
	} {
		if err := d.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// newMeter returns a meter over dir's timezones that is never started:
// tests load its cells.
func newMeter(t testing.TB, dir *account.Directory) *meter.Meter {
	t.Helper()
	return meter.New(meter.Options{Location: dir.Location, Logf: t.Logf})
}

// loadCell adds a cell of gpt-4o-mini to m.
func loadCell(m *meter.Meter, org, user string, hour time.Time, requests, nano int64) {
	m.Load(meter.CellKey{Org: org, User: user, Model: "openai/gpt-4o-mini", Hour: hour.Unix()}, meter.Cell{Requests: requests, CostNano: nano})
}

// testHub is a hub served on a loopback fasthttp server.
type testHub struct {
	*Hub
	url string // ws://127.0.0.1:port/ws/analytics
	set *metrics.Set
}

// startHub builds a hub with opt (Accounts: testDir, Meter: newMeter, Now:
// testNow when unset) and serves it; cleanup closes the hub, then the
// server.
func startHub(t testing.TB, opt Options) *testHub {
	t.Helper()
	th := &testHub{set: metrics.NewSet()}
	if opt.Accounts == nil {
		opt.Accounts = testDir(t)
	}
	if opt.Meter == nil {
		opt.Meter = newMeter(t, opt.Accounts)
	}
	if opt.Now == nil {
		opt.Now = func() time.Time { return testNow }
	}
	opt.Metrics = th.set
	th.Hub = New(opt)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/ws/analytics" {
			th.Serve(ctx)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = th.Close()
		_ = srv.Shutdown()
		<-served
	})
	th.url = "ws://" + ln.Addr().String() + "/ws/analytics"
	return th
}

// dial opens a WebSocket with the key in the Authorization header (or no
// header when key is ""); suffix is appended to the URL (?token=…).
func dial(t testing.TB, url, key string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if key != "" {
		hdr.Set("Authorization", "Bearer "+key)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(url, hdr)
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

// subscribe dials as key, subscribes to events of org and checks the
// acknowledgement.
func subscribe(t testing.TB, th *testHub, key, org string, events ...string) *websocket.Conn {
	t.Helper()
	c, resp, err := dial(t, th.url, key, nil)
	if err != nil {
		t.Fatalf("cannot dial: %s (%v)", err, resp)
	}
	msg := map[string]any{"type": "subscribe", "org_id": org, "events": events}
	if err := c.WriteJSON(msg); err != nil {
		t.Fatal(err)
	}
	ack := next(t, c)
	if ack.Get("type").String() != "subscribed" || ack.Get("org_id").String() != org {
		t.Fatalf("ack %s", ack.Raw)
	}
	return c
}

// next reads one message; 10s is a liveness bound, not a timing assertion.
func next(t testing.TB, c *websocket.Conn) gjson.Result {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("cannot read a message: %s", err)
	}
	return gjson.ParseBytes(b)
}

// nextRaw reads one message as text.
func nextRaw(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	return next(t, c).Raw
}

// closeOf reads until the connection ends and returns its close error.
func closeOf(t testing.TB, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("the connection ended without a close frame: %s", err)
		}
		return ce
	}
}

// body reads a failed handshake's body.
func body(t testing.TB, resp *http.Response) gjson.Result {
	t.Helper()
	if resp == nil {
		t.Fatal("no response")
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return gjson.ParseBytes(b)
}

// gpt is a request event of acme: gpt-4o-mini, 1000 in, 100 out.
func gpt(id uint64, org, user string, cost int64) *meter.Event {
	ev := &meter.Event{
		ID: id, Time: testNow.Add(time.Duration(id) * time.Second).UnixNano(),
		Org: org, User: user, Model: "openai/gpt-4o-mini", Status: 200,
		CostNano: cost, Priced: true, LatencyMicros: 1234567, TTFTMicros: 0,
	}
	ev.Usage.Input.Set(1000)
	ev.Usage.Output.Set(100)
	return ev
}

// rateLimited is a 429 error event.
func rateLimited(id uint64, org, user string) *meter.Event {
	return &meter.Event{
		ID: id, Time: testNow.Add(time.Duration(id) * time.Second).UnixNano(),
		Org: org, User: user, Model: "anthropic/claude-haiku-4-5", Status: 429, Stream: true,
		ErrorType: usage.ErrRateLimit, ErrorMessage: "Rate limit \"reached\"\n", LatencyMicros: 2500,
	}
}
