package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/store"
)

// membersChat is a chat request the simulator answers with 200.
const membersChat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// membersDo calls the admin API with a bearer key ("" sends none).
func membersDo(t *testing.T, method, url, key, body string) (int, gjson.Result) {
	t.Helper()
	h := map[string]string{}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	st, b, _ := call(t, method, url, h, body)
	return st, gjson.ParseBytes(b)
}

// membersProxy sends a chat request through the proxy with key and returns
// the status.
func membersProxy(t *testing.T, proxyURL, key string) int {
	t.Helper()
	st, _, _ := call(t, "POST", proxyURL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + key}, membersChat)
	return st
}

// membersCreate creates a member of acme as alice and returns its key.
func membersCreate(t *testing.T, admin, body string) string {
	t.Helper()
	st, r := membersDo(t, "POST", admin+"/api/organizations/acme/members", keyAlice, body)
	key := r.Get("api_key").String()
	if st != 201 || !r.Get("success").Bool() || len(key) != 46 || key[:3] != "im_" {
		t.Fatalf("create %s: %d %s", body, st, r.Raw)
	}
	return key
}

// membersFileHas reports whether the store file of dataDir holds s.
func membersFileHas(t *testing.T, dataDir, s string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// TestMembersLifecycle creates, uses, rotates and deletes members through the
// API of a running app, then restarts it on the same data directory.
func TestMembersLifecycle(t *testing.T) {
	s, base := startSim(t, sim.Options{})
	dataDir := t.TempDir()
	cfg := testConfig(t, base, dataDir, "")
	app1, proxyURL, admin := startApp(t, cfg, appOptions{})
	members := admin + "/api/organizations/acme/members"

	// Create: the key works at once on the proxy and on the API.
	carol := membersCreate(t, admin, `{"id":"carol","email":"carol@acme.example","department":"sales","billing_mode":"member_pays","role":"member","monthly_limit_usd":25}`)
	if st := membersProxy(t, proxyURL, carol); st != 200 {
		t.Fatalf("new member on the proxy: %d", st)
	}
	if st, r := membersDo(t, "GET", admin+"/api/organizations/acme/usage", carol, ""); st != 200 || !r.Get("success").Bool() {
		t.Fatalf("new member on the API: %d %s", st, r.Raw)
	}
	// The request is metered as carol's, with her department and billing mode.
	waitFor(t, "carol's request in the usage", func() bool {
		_, r := adminGet(t, admin, carol, "/api/organizations/acme/usage?group_by=user&range=today")
		return r.Get("usage.by_user.0.requests").Int() == 1
	})
	_, r := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?group_by=department&range=today")
	if r.Get(`usage.by_department.#(department=="sales").requests`).Int() != 1 {
		t.Fatalf("carol's request not in department sales: %s", r.Raw)
	}
	// An admin created through the API administers the org.
	dan := membersCreate(t, admin, `{"id":"dan","email":"dan@acme.example","role":"admin"}`)
	if st, r := membersDo(t, "GET", members, dan, ""); st != 200 || r.Get(`members.#(id=="carol").source`).String() != "api" {
		t.Fatalf("new admin lists members: %d %s", st, r.Raw)
	}

	// Authorization of the members routes.
	if st, r := membersDo(t, "GET", members, carol, ""); st != 403 || r.Get("error.code").String() != "forbidden" {
		t.Fatalf("member key on the members routes: %d %s", st, r.Raw)
	}
	if st, r := membersDo(t, "POST", members, keyBob, `{"email":"x@acme.example"}`); st != 403 || r.Get("success").Bool() {
		t.Fatalf("member key creates a member: %d %s", st, r.Raw)
	}
	if st, r := membersDo(t, "GET", members, keyEve, ""); st != 404 || r.Get("error.code").String() != "not_found" {
		t.Fatalf("another org's admin on acme's members: %d %s", st, r.Raw)
	}
	if st, r := membersDo(t, "DELETE", members+"/carol", keyEve, ""); st != 404 || r.Get("success").Bool() {
		t.Fatalf("another org's admin deletes carol: %d %s", st, r.Raw)
	}
	if st, r := membersDo(t, "GET", members, "", ""); st != 401 || r.Get("error.code").String() != "unauthorized" {
		t.Fatalf("no key on the members routes: %d %s", st, r.Raw)
	}

	// Rotate: the old key is refused at once, the new one works.
	st, r := membersDo(t, "POST", members+"/carol/rotate", keyAlice, "")
	carol2 := r.Get("api_key").String()
	if st != 200 || carol2 == "" || carol2 == carol {
		t.Fatalf("rotate: %d %s", st, r.Raw)
	}
	before := s.Count()
	if st := membersProxy(t, proxyURL, carol); st != 401 {
		t.Fatalf("old key on the proxy after rotate: %d", st)
	}
	if st, _ := membersDo(t, "GET", admin+"/api/organizations/acme/usage", carol, ""); st != 401 {
		t.Fatalf("old key on the API after rotate: %d", st)
	}
	if n := s.Count(); n != before {
		t.Fatalf("a request with a rotated key reached the provider")
	}
	if st := membersProxy(t, proxyURL, carol2); st != 200 {
		t.Fatalf("new key on the proxy after rotate: %d", st)
	}
	if st, _ := membersDo(t, "GET", admin+"/api/organizations/acme/usage", carol2, ""); st != 200 {
		t.Fatalf("new key on the API after rotate: %d", st)
	}

	// Delete: the key is refused at once.
	dave := membersCreate(t, admin, `{"id":"dave","email":"dave@acme.example"}`)
	if st := membersProxy(t, proxyURL, dave); st != 200 {
		t.Fatalf("dave on the proxy: %d", st)
	}
	if st, r := membersDo(t, "DELETE", members+"/dave", keyAlice, ""); st != 200 || !r.Get("deleted").Bool() {
		t.Fatalf("delete dave: %d %s", st, r.Raw)
	}
	if st := membersProxy(t, proxyURL, dave); st != 401 {
		t.Fatalf("deleted key on the proxy: %d", st)
	}
	if st, _ := membersDo(t, "GET", admin+"/api/organizations/acme/usage", dave, ""); st != 401 {
		t.Fatalf("deleted key on the API: %d", st)
	}
	// A config member deleted through the API is refused until the next start.
	if st, _ := membersDo(t, "DELETE", members+"/bob", keyAlice, ""); st != 200 {
		t.Fatalf("delete bob: %d", st)
	}
	if st := membersProxy(t, proxyURL, keyBob); st != 401 {
		t.Fatalf("deleted config member on the proxy: %d", st)
	}
	// The last admin cannot go; with dan around, alice can be demoted.
	if st, r := membersDo(t, "PATCH", members+"/dan", dan, `{"role":"member"}`); st != 200 {
		t.Fatalf("dan demotes himself while alice is admin: %d %s", st, r.Raw)
	}
	if st, r := membersDo(t, "DELETE", members+"/alice", keyAlice, ""); st != 409 || r.Get("error.code").String() != "last_admin" {
		t.Fatalf("the last admin deletes herself: %d %s", st, r.Raw)
	}
	if st, _ := membersDo(t, "PATCH", members+"/dan", keyAlice, `{"role":"admin"}`); st != 200 {
		t.Fatalf("promote dan: %d", st)
	}

	if err := app1.Close(); err != nil {
		t.Fatal(err)
	}
	// The store holds the hash of carol's key, never a clear key.
	if !membersFileHas(t, dataDir, account.HashHex(account.HashKey([]byte(carol2)))) {
		t.Fatal("the store file lacks the hash of carol's key")
	}
	for _, k := range []string{carol, carol2, dan, dave} {
		if membersFileHas(t, dataDir, k) {
			t.Fatalf("the store file holds the clear key %q", k)
		}
	}

	// Restart on the same data directory with the same config.
	_, proxyURL, admin = startApp(t, cfg, appOptions{})
	members = admin + "/api/organizations/acme/members"
	if st := membersProxy(t, proxyURL, carol2); st != 200 {
		t.Fatalf("carol's key on the proxy after a restart: %d", st)
	}
	if st, r := membersDo(t, "GET", members+"/carol", dan, ""); st != 200 ||
		r.Get("member.email").String() != "carol@acme.example" || r.Get("member.department").String() != "sales" ||
		r.Get("member.billing_mode").String() != "member_pays" || r.Get("member.monthly_limit_usd").Raw != "25" ||
		r.Get("member.source").String() != "api" || r.Get("member.created_at").String() == "" {
		t.Fatalf("carol after a restart, read by dan (an admin made through the API): %d %s", st, r.Raw)
	}
	for name, k := range map[string]string{"carol's rotated key": carol, "dave's deleted key": dave} {
		if st := membersProxy(t, proxyURL, k); st != 401 {
			t.Fatalf("%s on the proxy after a restart: %d", name, st)
		}
		if st, _ := membersDo(t, "GET", admin+"/api/organizations/acme/usage", k, ""); st != 401 {
			t.Fatalf("%s on the API after a restart: %d", name, st)
		}
	}
	// The config file is the source of truth for its members: bob is back.
	if st := membersProxy(t, proxyURL, keyBob); st != 200 {
		t.Fatalf("config member bob after a restart: %d", st)
	}
	st, r = membersDo(t, "GET", members, keyAlice, "")
	var ids []string
	for _, m := range r.Get("members").Array() {
		ids = append(ids, m.Get("id").String()+":"+m.Get("source").String())
	}
	if st != 200 || len(ids) != 4 || ids[0] != "alice:config" || ids[1] != "bob:config" || ids[2] != "carol:api" || ids[3] != "dan:api" {
		t.Fatalf("members after a restart: %d %v", st, ids)
	}
}
