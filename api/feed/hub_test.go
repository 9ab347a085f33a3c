package feed

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

func TestRequestAndErrorEvents(t *testing.T) {
	th := startHub(t, Options{})
	c := subscribe(t, th, keyAlice, "acme", "request", "error")
	// gpt-4o-mini 1000 in + 100 out: 1000×150 + 100×600 = 210000 nano.
	th.Publish(gpt(1, "acme", "bob", 210_000))
	th.Publish(rateLimited(2, "acme", "alice"))
	want := `{"type":"request","id":"1","org_id":"acme","user_id":"bob","model":"openai/gpt-4o-mini",` +
		`"input_tokens":1000,"output_tokens":100,"cached_tokens":0,"reasoning_tokens":0,"cost_usd":0.00021,"priced":true,` +
		`"latency_ms":1234,"ttft_ms":0,"stream":false,"status":"success","http_status":200,"timestamp":"2026-03-10T12:00:01Z"}`
	if got := nextRaw(t, c); got != want {
		t.Fatalf("request event\n got %s\nwant %s", got, want)
	}
	want = `{"type":"error","id":"2","org_id":"acme","user_id":"alice","model":"anthropic/claude-haiku-4-5",` +
		`"error_type":"rate_limit","message":"Rate limit \"reached\"\n","cost_usd":0,` +
		`"latency_ms":2,"ttft_ms":0,"stream":true,"status":"error","http_status":429,"timestamp":"2026-03-10T12:00:02Z"}`
	if got := nextRaw(t, c); got != want {
		t.Fatalf("error event\n got %s\nwant %s", got, want)
	}
}

// TestIsolation: an admin sees its whole org, a member only its own
// events, another org nothing. Each connection delivers in order, so a
// client whose first message is the last event published never received
// the earlier ones.
func TestIsolation(t *testing.T) {
	th := startHub(t, Options{})
	alice := subscribe(t, th, keyAlice, "acme", "request", "error")
	bob := subscribe(t, th, keyBob, "acme", "request", "error")
	eve := subscribe(t, th, keyEve, "globex", "request", "error")
	th.Publish(gpt(1, "acme", "alice", 1))
	th.Publish(rateLimited(2, "acme", "alice"))
	th.Publish(gpt(3, "acme", "bob", 3))
	th.Publish(gpt(4, "globex", "eve", 4))

	who := func(c *websocket.Conn) string {
		t.Helper()
		j := next(t, c)
		return j.Get("org_id").String() + "/" + j.Get("user_id").String() + "/" + j.Get("id").String()
	}
	for _, w := range []string{"acme/alice/1", "acme/alice/2", "acme/bob/3"} {
		if got := who(alice); got != w {
			t.Fatalf("alice got %s, want %s", got, w)
		}
	}
	if got := who(bob); got != "acme/bob/3" {
		t.Fatalf("bob's first event is %s, want only his own (acme/bob/3)", got)
	}
	if got := who(eve); got != "globex/eve/4" {
		t.Fatalf("eve's first event is %s, want only globex's (globex/eve/4)", got)
	}
	// A filter on kinds: bob now subscribes to errors only.
	bobErr := subscribe(t, th, keyBob, "acme", "error")
	th.Publish(gpt(5, "acme", "bob", 5))
	th.Publish(rateLimited(6, "acme", "bob"))
	if got := who(bobErr); got != "acme/bob/6" {
		t.Fatalf("an error-only subscriber got %s first", got)
	}
}

func TestAuthAndHandshake(t *testing.T) {
	th := startHub(t, Options{Origins: []string{"https://finops.example.com"}})
	f := func(name, url, key string, hdr http.Header, status int, code string) {
		t.Helper()
		c, resp, err := dial(t, url, key, hdr)
		if status == http.StatusSwitchingProtocols {
			if err != nil {
				t.Fatalf("%s: %s", name, err)
			}
			_ = c.Close()
			return
		}
		if err == nil || resp == nil || resp.StatusCode != status {
			t.Fatalf("%s: err %v, response %v; want %d", name, err, resp, status)
		}
		if got := body(t, resp).Get("error.code").String(); got != code {
			t.Fatalf("%s: code %q, want %q", name, got, code)
		}
	}
	f("no key", th.url, "", nil, 401, "unauthorized")
	f("bad key", th.url, "im-nobody", nil, 401, "unauthorized")
	f("bad scheme", th.url, "", http.Header{"Authorization": {"Basic " + keyAlice}}, 401, "unauthorized")
	f("bad header beats a good token", th.url+"?token="+keyAlice, "im-nobody", nil, 401, "unauthorized")
	f("bad token", th.url+"?token=im-nobody", "", nil, 401, "unauthorized")
	f("header", th.url, keyAlice, nil, 101, "")
	f("token", th.url+"?token="+keyBob, "", nil, 101, "")
	f("foreign origin", th.url, keyAlice, http.Header{"Origin": {"https://evil.example"}}, 403, "forbidden_origin")
	f("listed origin", th.url, keyAlice, http.Header{"Origin": {"https://finops.example.com"}}, 101, "")
	same := "http://" + strings.TrimPrefix(strings.TrimSuffix(th.url, "/ws/analytics"), "ws://")
	f("same origin", th.url, keyAlice, http.Header{"Origin": {same}}, 101, "")

	// A plain GET (no upgrade) with a good key: 426.
	req, err := http.NewRequest("GET", "http"+strings.TrimPrefix(th.url, "ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+keyAlice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || body(t, resp).Get("error.code").String() != "upgrade_required" {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestSubscribeRefused(t *testing.T) {
	th := startHub(t, Options{})
	f := func(name, msg, code string, closeCode int) {
		t.Helper()
		c, _, err := dial(t, th.url, keyAlice, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if code != "" {
			j := next(t, c)
			if j.Get("type").String() != "subscribe_error" || j.Get("code").String() != code {
				t.Fatalf("%s: %s", name, j.Raw)
			}
		}
		if ce := closeOf(t, c); ce.Code != closeCode {
			t.Fatalf("%s: close %d %q, want %d", name, ce.Code, ce.Text, closeCode)
		}
	}
	// Another org: refused, and none of its events ever arrive (the
	// connection is closed right after the refusal).
	f("other org", `{"type":"subscribe","org_id":"globex","events":["request"]}`, "forbidden", websocket.ClosePolicyViolation)
	f("not json", `subscribe me`, "invalid_subscribe", websocket.CloseInvalidFramePayloadData)
	f("wrong type", `{"type":"hello","org_id":"acme"}`, "invalid_subscribe", websocket.CloseInvalidFramePayloadData)
	f("unknown event", `{"type":"subscribe","org_id":"acme","events":["request","gossip"]}`, "invalid_subscribe", websocket.CloseInvalidFramePayloadData)
	f("too large", `{"type":"subscribe","org_id":"`+strings.Repeat("a", maxSubscribeBytes)+`"}`, "", websocket.CloseMessageTooBig)

	// Omitted org and events: the caller's org, every kind.
	c, _, err := dial(t, th.url, keyBob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe"}`)); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"subscribed","org_id":"acme","scope":"member","user_id":"bob","events":["request","error","cost_update","limit_warning"]}`
	if got := nextRaw(t, c); got != want {
		t.Fatalf("ack %s, want %s", got, want)
	}
}

// TestSlowConsumerDropped: a client that never reads while 10,000 events
// (80 MB, far more than socket buffers hold) are published is dropped;
// every Publish returns, and the drop is counted once.
func TestSlowConsumerDropped(t *testing.T) {
	th := startHub(t, Options{Buffer: 16})
	slow := subscribe(t, th, keyAlice, "acme", "error")
	big := strings.Repeat("x", 8<<10)
	for i := 1; i <= 10_000; i++ {
		ev := rateLimited(uint64(i), "acme", "alice")
		ev.ErrorMessage = big
		th.Publish(ev)
	}
	if n := th.dropped.Get(); n != 1 {
		t.Fatalf("dropped %d subscribers, want 1", n)
	}
	// The slow client now reads: what was written, then the close frame.
	if ce := closeOf(t, slow); ce.Code != websocket.ClosePolicyViolation || ce.Text != droppedText {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	waitSubscribers(t, th, 0)
	// The hub serves new subscribers as before.
	c := subscribe(t, th, keyAlice, "acme", "request")
	th.Publish(gpt(20_000, "acme", "bob", 7))
	if got := next(t, c).Get("id").String(); got != "20000" {
		t.Fatalf("id %s", got)
	}
	if n := th.dropped.Get(); n != 1 {
		t.Fatalf("dropped %d subscribers, want 1", n)
	}
}

// waitSubscribers waits (bounded) until the hub has n subscribers.
func waitSubscribers(t testing.TB, th *testHub, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(*th.subs.Load()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", len(*th.subs.Load()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCostUpdate(t *testing.T) {
	th := startHub(t, Options{CostInterval: 20 * time.Millisecond})
	m := th.opt.Meter
	// acme is in UTC; now is 2026-03-10 12:00.
	loadCell(m, "acme", "bob", testNow, 1, 210_000)                                         // today
	loadCell(m, "acme", "alice", testNow.Add(-3*time.Hour), 2, 420_000)                     // today
	loadCell(m, "acme", "bob", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1, 999_790_001) // this month
	loadCell(m, "acme", "alice", time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), 9, 9)       // last month
	loadCell(m, "globex", "eve", testNow, 5, 5)                                             // another org
	alice := subscribe(t, th, keyAlice, "acme", "cost_update")
	bob := subscribe(t, th, keyBob, "acme", "cost_update")
	// The first one comes right after the acknowledgement.
	want := `{"type":"cost_update","org_id":"acme","scope":"org","user_id":"",` +
		`"today":{"cost_usd":0.00063,"requests":3},"month":{"cost_usd":1.000420001,"requests":4},"timestamp":"2026-03-10T12:00:00Z"}`
	if got := nextRaw(t, alice); got != want {
		t.Fatalf("admin\n got %s\nwant %s", got, want)
	}
	want = `{"type":"cost_update","org_id":"acme","scope":"member","user_id":"bob",` +
		`"today":{"cost_usd":0.00021,"requests":1},"month":{"cost_usd":1.000000001,"requests":2},"timestamp":"2026-03-10T12:00:00Z"}`
	if got := nextRaw(t, bob); got != want {
		t.Fatalf("member\n got %s\nwant %s", got, want)
	}
	// Then every interval, with the totals of that moment.
	loadCell(m, "acme", "alice", testNow, 1, 210_000)
	for i := 0; ; i++ {
		j := next(t, alice)
		if j.Get("type").String() != "cost_update" {
			t.Fatalf("unexpected %s", j.Raw)
		}
		if j.Get("today.requests").Int() == 4 {
			if j.Get("today.cost_usd").Raw != "0.00084" || j.Get("month.cost_usd").Raw != "1.000630001" || j.Get("month.requests").Int() != 5 {
				t.Fatalf("totals %s", j.Raw)
			}
			break
		}
		if i == 10_000 {
			t.Fatal("the new totals never came")
		}
	}
}

// TestLimitWarning: bob's limit is 0.001 USD, acme's budget 0.002 USD.
// Warnings come once per threshold and month; bob sees only his own.
func TestLimitWarning(t *testing.T) {
	// Month-to-date spend before the hub starts: bob 0.0005, acme 0.001.
	dir := testDir(t)
	m := newMeter(t, dir)
	loadCell(m, "acme", "bob", testNow.Add(-time.Hour), 1, 500_000)
	loadCell(m, "acme", "alice", testNow.Add(-time.Hour), 1, 500_000)
	loadCell(m, "acme", "bob", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 1, 5_000_000) // February
	th := startHub(t, Options{Accounts: dir, Meter: m})
	alice := subscribe(t, th, keyAlice, "acme", "limit_warning")
	bob := subscribe(t, th, keyBob, "acme", "limit_warning")
	th.Publish(gpt(1, "acme", "bob", 200_000))   // bob 70%, acme 60%
	th.Publish(gpt(2, "acme", "bob", 100_000))   // bob 80%: warning
	th.Publish(gpt(3, "acme", "bob", 250_000))   // bob 105%: warning; acme 77.5%
	th.Publish(gpt(4, "acme", "alice", 50_000))  // acme 80%: warning (admins only)
	th.Publish(gpt(5, "acme", "bob", 10_000))    // nothing new
	th.Publish(gpt(6, "globex", "eve", 999_999)) // no limit
	april := gpt(7, "acme", "bob", 900_000)      // a new month: bob 90%
	april.Time = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	th.Publish(april)

	member80 := `{"type":"limit_warning","org_id":"acme","scope":"member","user_id":"bob","threshold_pct":80,"spend_usd":0.0008,"limit_usd":0.001,"timestamp":"2026-03-10T12:00:02Z"}`
	member100 := `{"type":"limit_warning","org_id":"acme","scope":"member","user_id":"bob","threshold_pct":100,"spend_usd":0.00105,"limit_usd":0.001,"timestamp":"2026-03-10T12:00:03Z"}`
	org80 := `{"type":"limit_warning","org_id":"acme","scope":"org","user_id":"","threshold_pct":80,"spend_usd":0.0016,"limit_usd":0.002,"timestamp":"2026-03-10T12:00:04Z"}`
	april80 := `{"type":"limit_warning","org_id":"acme","scope":"member","user_id":"bob","threshold_pct":80,"spend_usd":0.0009,"limit_usd":0.001,"timestamp":"2026-04-01T00:00:00Z"}`
	for i, want := range []string{member80, member100, org80, april80} {
		if got := nextRaw(t, alice); got != want {
			t.Fatalf("alice %d\n got %s\nwant %s", i, got, want)
		}
	}
	for i, want := range []string{member80, member100, april80} {
		if got := nextRaw(t, bob); got != want {
			t.Fatalf("bob %d\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestPingPong(t *testing.T) {
	// A loaded machine can delay a pong by seconds: PongWait is generous.
	th := startHub(t, Options{PingInterval: 100 * time.Millisecond, PongWait: 3 * time.Second})

	// A client that answers pings stays open across read deadlines: 40
	// pings span more than one of them.
	c := subscribe(t, th, keyAlice, "acme", "request")
	pings := make(chan struct{}, 64)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for i := 0; i < 40; i++ {
		select {
		case <-pings:
		case err := <-readErr:
			t.Fatalf("closed after %d pings: %s", i, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no ping %d", i+1)
		}
	}
	_ = c.Close()
	<-readErr

	// A client that reads but never answers pings is closed.
	mute := subscribe(t, th, keyBob, "acme", "request")
	mute.SetPingHandler(func(string) error { return nil })
	_ = mute.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err := mute.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseAbnormalClosure) {
		t.Fatalf("a client that never answers pings: %v", err)
	}
}

// TestCloseAndRevoke: Close says going away to subscribers, closes
// connections still to subscribe and refuses new ones; a revoked key is
// closed at the next ping.
func TestCloseAndRevoke(t *testing.T) {
	// Clients that do not read answer no pings: a long PongWait keeps them.
	th := startHub(t, Options{PingInterval: 50 * time.Millisecond, PongWait: time.Minute})
	bob := subscribe(t, th, keyBob, "acme", "request")
	if err := th.opt.Accounts.DeleteMember("acme", "bob"); err != nil {
		t.Fatal(err)
	}
	if ce := closeOf(t, bob); ce.Code != websocket.ClosePolicyViolation || ce.Text != revokedText {
		t.Fatalf("revoked: close %d %q", ce.Code, ce.Text)
	}

	alice := subscribe(t, th, keyAlice, "acme", "request")
	quiet, _, err := dial(t, th.url, keyEve, nil) // never subscribes
	if err != nil {
		t.Fatal(err)
	}
	waitConns(t, th, 2)
	if err := th.Close(); err != nil {
		t.Fatal(err)
	}
	if ce := closeOf(t, alice); ce.Code != websocket.CloseGoingAway {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	if _, _, err := quiet.ReadMessage(); err == nil {
		t.Fatal("a connection that never subscribed outlived Close")
	}
	_, resp, err := dial(t, th.url, keyAlice, nil)
	if err == nil || resp.StatusCode != 503 {
		t.Fatalf("after Close: %v %v", err, resp)
	}
	th.Publish(gpt(1, "acme", "alice", 1)) // reaches nobody, does not block
}

// waitConns waits (bounded) until the hub has n open connections.
func waitConns(t testing.TB, th *testHub, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		th.mu.Lock()
		got := th.conns
		th.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
