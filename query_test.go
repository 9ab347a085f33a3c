package main

import (
	"testing"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestAnalyticsQuery sends tagged traffic of two members through the proxy
// to the simulator and queries it by user × model and by tag, to the token
// and the nano-dollar.
func TestAnalyticsQuery(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})

	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	msg := `{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	xkey := func(k string) map[string]string {
		return map[string]string{"X-Api-Key": k, "Anthropic-Version": "2023-06-01"}
	}
	reqs := []struct {
		auth       map[string]string
		path, body string
		in, out    string
		tags       string
		status     string // X-Sim-Status: an upstream error
	}{
		// gpt-4o-mini: 150 nano per input token, 600 per output token.
		// 1000×150 + 200×600 = 270000.
		{bearer(keyAlice), "/v1/chat/completions", chat, "1000", "200", "team=a", ""},
		// 100×150 + 50×600 = 45000.
		{bearer(keyAlice), "/v1/chat/completions", chat, "100", "50", "team=b", ""},
		// claude-haiku-4-5: 1000 nano per input token, 5000 per output
		// token. 200×1000 + 100×5000 = 700000.
		{xkey(keyAlice), "/v1/messages", msg, "200", "100", "", ""},
		// 300×150 + 100×600 = 105000.
		{bearer(keyBob), "/v1/chat/completions", chat, "300", "100", "env=prod, team=a", ""},
		// 100×1000 + 40×5000 = 300000.
		{xkey(keyBob), "/v1/messages", msg, "100", "40", "team=a", ""},
		// A provider error: counted, no tokens, no cost.
		{bearer(keyBob), "/v1/chat/completions", chat, "0", "0", "team=a", "500"},
	}
	for i, r := range reqs {
		h := map[string]string{"Content-Type": "application/json", "X-Sim-Input-Tokens": r.in, "X-Sim-Output-Tokens": r.out,
			"X-Sim-Cached-Tokens": "0", "X-Sim-Cache-Write-Tokens": "0", "X-Sim-Reasoning-Tokens": "0"}
		for k, v := range r.auth {
			h[k] = v
		}
		if r.tags != "" {
			h["X-Infermeter-Tags"] = r.tags
		}
		want := 200
		if r.status != "" {
			h["X-Sim-Status"] = r.status
			want = 500
		}
		if st, b, _ := call(t, "POST", proxyURL+r.path, h, r.body); st != want {
			t.Fatalf("request %d: status %d, want %d: %s", i, st, want, b)
		}
	}

	query := func(key, body string) (int, gjson.Result) {
		t.Helper()
		st, b, _ := call(t, "POST", admin+"/api/analytics/query", map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}, body)
		return st, gjson.ParseBytes(b)
	}
	waitFor(t, "all requests aggregated", func() bool {
		_, j := query(keyAlice, `{"metrics":["requests"]}`)
		return j.Get("rows.0.requests").Int() == int64(len(reqs))
	})

	check := func(key, body, want string) {
		t.Helper()
		st, j := query(key, body)
		if st != 200 || !j.Get("success").Bool() {
			t.Fatalf("%s: %d %s", body, st, j.Raw)
		}
		if got := j.Get("rows").Raw; got != want {
			t.Fatalf("%s:\ngot  %s\nwant %s", body, got, want)
		}
	}
	check(keyAlice, `{"metrics":["requests","input_tokens","output_tokens","cost","errors"],"dimensions":["user","model"]}`,
		`[{"user":"alice","model":"anthropic/claude-haiku-4-5","requests":1,"input_tokens":200,"output_tokens":100,"cost":0.0007,"errors":0},`+
			`{"user":"alice","model":"openai/gpt-4o-mini","requests":2,"input_tokens":1100,"output_tokens":250,"cost":0.000315,"errors":0},`+
			`{"user":"bob","model":"anthropic/claude-haiku-4-5","requests":1,"input_tokens":100,"output_tokens":40,"cost":0.0003,"errors":0},`+
			`{"user":"bob","model":"openai/gpt-4o-mini","requests":2,"input_tokens":300,"output_tokens":100,"cost":0.000105,"errors":1}]`)
	// team=a: alice's 270000 + bob's 105000 + 300000 + the error.
	check(keyAlice, `{"metrics":["requests","tokens","cost","active_members","error_rate"],"dimensions":["tag:team"],"sort":[{"field":"cost","order":"desc"}]}`,
		`[{"tag:team":"","requests":1,"tokens":300,"cost":0.0007,"active_members":1,"error_rate":0},`+
			`{"tag:team":"a","requests":4,"tokens":1740,"cost":0.000675,"active_members":2,"error_rate":0.25},`+
			`{"tag:team":"b","requests":1,"tokens":150,"cost":0.000045,"active_members":1,"error_rate":0}]`)
	// Filters on a tag and a model; the tags were trimmed and sorted.
	check(keyAlice, `{"metrics":["requests","cost"],"dimensions":["user"],"filters":{"tag:env":["prod"],"model":["openai/gpt-4o-mini"]}}`,
		`[{"user":"bob","requests":1,"cost":0.000105}]`)
	// The member bob sees only his own rows.
	check(keyBob, `{"metrics":["requests","cost"],"dimensions":["user","model"]}`,
		`[{"user":"bob","model":"anthropic/claude-haiku-4-5","requests":1,"cost":0.0003},{"user":"bob","model":"openai/gpt-4o-mini","requests":2,"cost":0.000105}]`)
	if st, j := query(keyBob, `{"metrics":["requests"],"filters":{"user":["alice"]}}`); st != 403 {
		t.Fatalf("bob filtering on alice: %d %s", st, j.Raw)
	}
	// Another org's admin sees none of acme's traffic.
	check(keyEve, `{"metrics":["requests"],"dimensions":["user"]}`, `[]`)
	if st, j := query(keyAlice, `{"metrics":["requests"],"limit":0}`); st != 400 || j.Get("error.message").String() != "limit: want a whole number from 1 to 10000, got 0" {
		t.Fatalf("limit 0: %d %s", st, j.Raw)
	}
	st, j := adminGet(t, admin, keyBob, "/api/analytics/metrics")
	if st != 200 || len(j.Get("metrics").Array()) != 10 || j.Get("timezone").String() != "Europe/Berlin" {
		t.Fatalf("metrics: %d %s", st, j.Raw)
	}
}
