package api_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/api"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/store"
)

// Config keys of the members test directory.
const (
	membersKeyAlice = "k-alice" // acme admin
	membersKeyBob   = "k-bob"   // acme member
	membersKeyEve   = "k-eve"   // globex admin
)

// membersNow is the clock of the members tests.
var membersNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// membersKeyRE is the shape of a key made by the API.
var membersKeyRE = regexp.MustCompile(`^im_[A-Za-z0-9_-]{43}$`)

// membersEnv is an API over a directory and a store in a temporary directory.
type membersEnv struct {
	api *api.API
	dir *account.Directory
	st  *store.Store
}

// membersConfigDir returns the directory as the config file declares it:
// acme (admin alice, member bob) and globex (admin eve).
func membersConfigDir(t testing.TB) *account.Directory {
	t.Helper()
	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme"})
	dir.PutOrg(account.Org{ID: "globex", Name: "Globex"})
	for _, m := range []account.Member{
		{ID: "alice", Org: "acme", Email: "alice@acme.example", Department: "research", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(membersKeyAlice))},
		{ID: "bob", Org: "acme", Email: "bob@acme.example", Department: "platform", BillingMode: account.MemberPays, Role: account.RoleMember, MonthlyLimitNano: 50e9, KeyHash: account.HashKey([]byte(membersKeyBob))},
		{ID: "eve", Org: "globex", Email: "eve@globex.example", Department: "ops", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(membersKeyEve))},
	} {
		if err := dir.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newMembersEnv(t testing.TB) *membersEnv {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	dir := membersConfigDir(t)
	return &membersEnv{
		api: api.New(api.Options{Accounts: dir, Store: st, Now: func() time.Time { return membersNow }}),
		dir: dir,
		st:  st,
	}
}

// do sends one request to the API handler; key "" sends no Authorization.
func (e *membersEnv) do(t testing.TB, method, path, key, body string) (int, gjson.Result, string) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if key != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		ctx.Request.SetBodyString(body)
	}
	e.api.Handler(&ctx)
	b := string(ctx.Response.Body())
	if !gjson.Valid(b) || !gjson.Get(b, "success").IsBool() {
		t.Fatalf("%s %s: answer without success: %s", method, path, b)
	}
	return ctx.Response.StatusCode(), gjson.Parse(b), b
}

// create creates a member as alice and returns its key.
func (e *membersEnv) create(t *testing.T, body string) (gjson.Result, string) {
	t.Helper()
	st, r, raw := e.do(t, "POST", "/api/organizations/acme/members", membersKeyAlice, body)
	if st != fasthttp.StatusCreated {
		t.Fatalf("create %s: status %d: %s", body, st, raw)
	}
	key := r.Get("api_key").String()
	if !membersKeyRE.MatchString(key) {
		t.Fatalf("create: api_key %q is not im_ and 43 base64url characters", key)
	}
	return r.Get("member"), key
}

// authID returns org/id of the member of key in the directory, "" if refused.
func (e *membersEnv) authID(key string) string {
	m, ok := e.dir.Authenticate([]byte(key))
	if !ok {
		return ""
	}
	return m.Org + "/" + m.ID
}

// state returns the saved record of a member, "" when there is none.
func (e *membersEnv) state(t *testing.T, org, id string) string {
	t.Helper()
	v, ok, err := e.st.GetState("member/" + org + "/" + id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return string(v)
}

// wantJSON compares a JSON value with the expected text, ignoring spacing.
func wantJSON(t *testing.T, what string, got gjson.Result, want string) {
	t.Helper()
	if g, w := compactJSON(got.Raw), compactJSON(want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func compactJSON(s string) string {
	var b strings.Builder
	inStr, esc := false, false
	for _, c := range s {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func TestMembersCreate(t *testing.T) {
	e := newMembersEnv(t)
	m, key := e.create(t, `{"id":"carol","email":"carol@acme.example","department":"sales","billing_mode":"member_pays","role":"member","monthly_limit_usd":12.5}`)
	wantJSON(t, "member", m, `{"id":"carol","org_id":"acme","email":"carol@acme.example","department":"sales",
		"billing_mode":"member_pays","role":"member","monthly_limit_usd":12.5,"created_at":"2026-11-27T10:00:00Z","source":"api"}`)
	if got := e.authID(key); got != "acme/carol" {
		t.Fatalf("new key authenticates as %q, want acme/carol", got)
	}
	// The key works on the API at once: carol is a member, so the members
	// routes are forbidden to her, and her own usage is not.
	if st, r, _ := e.do(t, "GET", "/api/organizations/acme/members", key, ""); st != 403 || r.Get("error.code").String() != "forbidden" {
		t.Fatalf("member key on the members list: %d %s", st, r.Raw)
	}
	// The saved record has the hash of the key, never the key.
	h := account.HashKey([]byte(key))
	want := `{"v":1,"org":"acme","id":"carol","email":"carol@acme.example","department":"sales","billing_mode":"member_pays",` +
		`"role":"member","monthly_limit_nano":12500000000,"key_sha256":"` + account.HashHex(h) + `","created_at":"2026-11-27T10:00:00Z"}`
	if got := e.state(t, "acme", "carol"); got != want {
		t.Fatalf("saved record:\n got %s\nwant %s", got, want)
	}
	// Defaults: billing_mode org_pays, role member, no limit, no department.
	m, _ = e.create(t, `{"id":"dave","email":"dave@acme.example"}`)
	wantJSON(t, "member with defaults", m, `{"id":"dave","org_id":"acme","email":"dave@acme.example","department":"",
		"billing_mode":"org_pays","role":"member","monthly_limit_usd":0,"created_at":"2026-11-27T10:00:00Z","source":"api"}`)
	// An admin created through the API administers the org.
	_, adminKey := e.create(t, `{"id":"frank","email":"frank@acme.example","role":"admin"}`)
	if st, r, _ := e.do(t, "GET", "/api/organizations/acme/members/carol", adminKey, ""); st != 200 || r.Get("member.id").String() != "carol" {
		t.Fatalf("new admin reads carol: %d %s", st, r.Raw)
	}
}

func TestMembersCreateGeneratesIDAndKey(t *testing.T) {
	e := newMembersEnv(t)
	m1, k1 := e.create(t, `{"email":"x@acme.example"}`)
	m2, k2 := e.create(t, `{"email":"y@acme.example"}`)
	idRE := regexp.MustCompile(`^m-[0-9a-f]{16}$`)
	for _, id := range []string{m1.Get("id").String(), m2.Get("id").String()} {
		if !idRE.MatchString(id) {
			t.Fatalf("generated id %q is not m- and 16 hex digits", id)
		}
	}
	if m1.Get("id").String() == m2.Get("id").String() || k1 == k2 {
		t.Fatalf("two creates gave the same id or key: %s %s", m1.Raw, m2.Raw)
	}
	if got := e.authID(k2); got != "acme/"+m2.Get("id").String() {
		t.Fatalf("second key authenticates as %q", got)
	}
}

func TestMembersValidation(t *testing.T) {
	e := newMembersEnv(t)
	f := func(method, path, body string, status int, code, msg string) {
		t.Helper()
		st, r, raw := e.do(t, method, path, membersKeyAlice, body)
		if st != status || r.Get("success").Bool() || r.Get("error.code").String() != code || r.Get("error.message").String() != msg {
			t.Fatalf("%s %s %s:\n got %d %s\nwant %d %s %q", method, path, body, st, raw, status, code, msg)
		}
	}
	const p = "/api/organizations/acme/members"
	bad := func(body, msg string) { t.Helper(); f("POST", p, body, 400, "invalid_parameter", msg) }
	bad(`{"email":"c@acme.example","role":"boss"}`, `role: "boss" is not one of admin, member`)
	bad(`{"email":"c@acme.example","billing_mode":"free"}`, `billing_mode: "free" is not one of org_pays, member_pays`)
	bad(`{"email":"not-an-address"}`, `email: "not-an-address" is not an email address`)
	bad(`{"email":"Carol <c@acme.example>"}`, `email: "Carol <c@acme.example>" is not an email address`)
	bad(`{"email":""}`, `email: must not be empty`)
	bad(`{"department":"x"}`, `email: must be given`)
	bad(`{"email":42}`, `email: must be a string`)
	bad(`{"email":"c@acme.example","monthly_limit_usd":-1}`, `monthly_limit_usd: must be >= 0, got -1`)
	bad(`{"email":"c@acme.example","monthly_limit_usd":2e9}`, `monthly_limit_usd: must be at most 1000000000, got 2e9`)
	bad(`{"email":"c@acme.example","monthly_limit_usd":"5"}`, `monthly_limit_usd: must be a number (USD)`)
	bad(`{"email":"c@acme.example","id":"a b"}`, `id: "a b" must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -`)
	bad(`{"email":"c@acme.example","id":""}`, `id: "" must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -`)
	bad(`{"email":"c@acme.example","id":".."}`, `id: ".." must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -`)
	bad(`{"email":"c@acme.example","id":"`+strings.Repeat("a", 65)+`"}`, `id: "`+strings.Repeat("a", 65)+`" must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -`)
	bad(`{"email":"c@acme.example","department":"a\nb"}`, `department: "a\nb" must be at most 128 printable characters`)
	bad(`{"email":"c@acme.example","api_key":"mine"}`, `api_key: keys are made by the server and shown once; use the rotate route for a new one`)
	bad(`{"email":"c@acme.example","colour":"red"}`, `colour: unknown field; known: id, email, department, billing_mode, role, monthly_limit_usd`)
	bad(`{"email":`, `body: must be a JSON object`)
	bad(`["x"]`, `body: must be a JSON object`)
	bad(``, `body: must be a JSON object`)
	f("POST", p, `{"id":"bob","email":"b2@acme.example"}`, 409, "member_exists", `id: member "bob" exists already in organization "acme"`)
	f("PATCH", p+"/bob", `{"id":"robert"}`, 400, "invalid_parameter", `id: cannot be changed`)
	f("PATCH", p+"/bob", `{"role":"boss"}`, 400, "invalid_parameter", `role: "boss" is not one of admin, member`)
	f("PATCH", p+"/nobody", `{"role":"admin"}`, 404, "not_found", `no member "nobody" in organization "acme"`)
	f("GET", p+"/nobody", ``, 404, "not_found", `no member "nobody" in organization "acme"`)
	f("DELETE", p+"/nobody", ``, 404, "not_found", `no member "nobody" in organization "acme"`)
	f("POST", p+"/nobody/rotate", ``, 404, "not_found", `no member "nobody" in organization "acme"`)
	// Nothing was created by the refused requests.
	if n := len(e.dir.Members("acme")); n != 2 {
		t.Fatalf("acme has %d members after refused creates, want 2", n)
	}
	n := 0
	if err := e.st.ScanState("member/", func(string, []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d members saved after refused creates", n)
	}
}

func TestMembersLimit(t *testing.T) {
	e := newMembersEnv(t)
	f := func(limit, want string, nano int64) {
		t.Helper()
		st, r, raw := e.do(t, "PATCH", "/api/organizations/acme/members/bob", membersKeyAlice, `{"monthly_limit_usd":`+limit+`}`)
		if st != 200 || r.Get("member.monthly_limit_usd").Raw != want {
			t.Fatalf("limit %s: %d %s, want monthly_limit_usd %s", limit, st, raw, want)
		}
		if m, _ := e.dir.Member("acme", "bob"); m.MonthlyLimitNano != nano {
			t.Fatalf("limit %s: %d nano, want %d", limit, m.MonthlyLimitNano, nano)
		}
	}
	f("0.1", "0.1", 100_000_000)
	f("12.3456789995", "12.345679", 12_345_679_000)
	f("1e3", "1000", 1000e9)
	f("1000000000", "1000000000", 1e18)
	f("0.0000000004", "0", 0)
	f("null", "0", 0)
	f("0", "0", 0)
}

func TestMembersList(t *testing.T) {
	e := newMembersEnv(t)
	e.create(t, `{"id":"carol","email":"carol@acme.example","department":"sales"}`)
	st, r, raw := e.do(t, "GET", "/api/organizations/acme/members", membersKeyAlice, "")
	if st != 200 || !r.Get("success").Bool() {
		t.Fatalf("list: %d %s", st, raw)
	}
	wantJSON(t, "members", r.Get("members"), `[
		{"id":"alice","org_id":"acme","email":"alice@acme.example","department":"research","billing_mode":"org_pays","role":"admin","monthly_limit_usd":0,"created_at":null,"source":"config"},
		{"id":"bob","org_id":"acme","email":"bob@acme.example","department":"platform","billing_mode":"member_pays","role":"member","monthly_limit_usd":50,"created_at":null,"source":"config"},
		{"id":"carol","org_id":"acme","email":"carol@acme.example","department":"sales","billing_mode":"org_pays","role":"member","monthly_limit_usd":0,"created_at":"2026-11-27T10:00:00Z","source":"api"}]`)
	if strings.Contains(raw, "key") || strings.Contains(raw, "hash") {
		t.Fatalf("the list shows a key or a hash: %s", raw)
	}
	// Another org's admin sees only its org.
	st, r, _ = e.do(t, "GET", "/api/organizations/globex/members", membersKeyEve, "")
	if st != 200 || len(r.Get("members").Array()) != 1 || r.Get("members.0.id").String() != "eve" {
		t.Fatalf("globex list: %d %s", st, r.Raw)
	}
}

func TestMembersRotate(t *testing.T) {
	e := newMembersEnv(t)
	_, oldKey := e.create(t, `{"id":"carol","email":"carol@acme.example"}`)
	st, r, raw := e.do(t, "POST", "/api/organizations/acme/members/carol/rotate", membersKeyAlice, "")
	if st != 200 || r.Get("member.id").String() != "carol" || r.Get("note").Exists() {
		t.Fatalf("rotate: %d %s", st, raw)
	}
	newKey := r.Get("api_key").String()
	if !membersKeyRE.MatchString(newKey) || newKey == oldKey {
		t.Fatalf("rotate: api_key %q (old %q)", newKey, oldKey)
	}
	if got := e.authID(oldKey); got != "" {
		t.Fatalf("old key still authenticates as %q", got)
	}
	if got := e.authID(newKey); got != "acme/carol" {
		t.Fatalf("new key authenticates as %q", got)
	}
	if st, r, _ := e.do(t, "GET", "/api/organizations/acme/usage", oldKey, ""); st != 401 || r.Get("error.code").String() != "unauthorized" {
		t.Fatalf("old key on the API: %d %s", st, r.Raw)
	}
	if got, h := e.state(t, "acme", "carol"), account.HashHex(account.HashKey([]byte(newKey))); gjson.Get(got, "key_sha256").String() != h {
		t.Fatalf("saved record after rotate: %s, want key_sha256 %s", got, h)
	}
	// A config member rotates too, in memory only, with a note saying so.
	st, r, raw = e.do(t, "POST", "/api/organizations/acme/members/bob/rotate", membersKeyAlice, "")
	if st != 200 || r.Get("note").String() != "declared in the config file: this change lasts until the next start, when the config file applies again" {
		t.Fatalf("rotate bob: %d %s", st, raw)
	}
	if got := e.authID(membersKeyBob); got != "" {
		t.Fatalf("bob's config key still authenticates as %q", got)
	}
	if got := e.authID(r.Get("api_key").String()); got != "acme/bob" {
		t.Fatalf("bob's new key authenticates as %q", got)
	}
	if got := e.state(t, "acme", "bob"); got != "" {
		t.Fatalf("a config member was saved: %s", got)
	}
}

func TestMembersDelete(t *testing.T) {
	e := newMembersEnv(t)
	_, key := e.create(t, `{"id":"carol","email":"carol@acme.example"}`)
	st, r, raw := e.do(t, "DELETE", "/api/organizations/acme/members/carol", membersKeyAlice, "")
	if st != 200 || !r.Get("deleted").Bool() || r.Get("member.id").String() != "carol" || r.Get("api_key").Exists() {
		t.Fatalf("delete: %d %s", st, raw)
	}
	if got := e.authID(key); got != "" {
		t.Fatalf("deleted key still authenticates as %q", got)
	}
	if st, _, _ := e.do(t, "GET", "/api/organizations/acme/usage", key, ""); st != 401 {
		t.Fatalf("deleted key on the API: %d", st)
	}
	if got := e.state(t, "acme", "carol"); got != "" {
		t.Fatalf("deleted member still saved: %s", got)
	}
	if st, _, _ := e.do(t, "GET", "/api/organizations/acme/members/carol", membersKeyAlice, ""); st != 404 {
		t.Fatalf("deleted member: GET %d", st)
	}
	// The id is free again.
	e.create(t, `{"id":"carol","email":"carol@acme.example"}`)
	// A config member is deleted in memory, with a note.
	st, r, _ = e.do(t, "DELETE", "/api/organizations/acme/members/bob", membersKeyAlice, "")
	if st != 200 || !strings.HasPrefix(r.Get("note").String(), "declared in the config file") {
		t.Fatalf("delete bob: %d %s", st, r.Raw)
	}
	if got := e.authID(membersKeyBob); got != "" {
		t.Fatalf("deleted config key still authenticates as %q", got)
	}
}

func TestMembersPatch(t *testing.T) {
	e := newMembersEnv(t)
	_, key := e.create(t, `{"id":"carol","email":"carol@acme.example","department":"sales","monthly_limit_usd":10}`)
	st, r, raw := e.do(t, "PATCH", "/api/organizations/acme/members/carol", membersKeyAlice, `{"department":"support","billing_mode":"member_pays"}`)
	if st != 200 {
		t.Fatalf("patch: %d %s", st, raw)
	}
	wantJSON(t, "patched", r.Get("member"), `{"id":"carol","org_id":"acme","email":"carol@acme.example","department":"support",
		"billing_mode":"member_pays","role":"member","monthly_limit_usd":10,"created_at":"2026-11-27T10:00:00Z","source":"api"}`)
	if got := e.authID(key); got != "acme/carol" {
		t.Fatalf("key after patch authenticates as %q", got)
	}
	if got := e.state(t, "acme", "carol"); gjson.Get(got, "department").String() != "support" || gjson.Get(got, "key_sha256").String() != account.HashHex(account.HashKey([]byte(key))) {
		t.Fatalf("saved record after patch: %s", got)
	}
}

func TestMembersLastAdmin(t *testing.T) {
	e := newMembersEnv(t)
	f := func(method, path, body string, status int, msg string) {
		t.Helper()
		st, r, raw := e.do(t, method, path, membersKeyAlice, body)
		if st != status || (msg != "" && r.Get("error.message").String() != msg) {
			t.Fatalf("%s %s %s: %d %s, want %d %q", method, path, body, st, raw, status, msg)
		}
		if status == 409 && r.Get("error.code").String() != "last_admin" {
			t.Fatalf("%s %s: code %s, want last_admin", method, path, r.Get("error.code"))
		}
	}
	const p = "/api/organizations/acme/members/"
	f("DELETE", p+"alice", "", 409, `cannot delete "alice": it is the last admin of organization "acme"; make another member admin first`)
	f("PATCH", p+"alice", `{"role":"member"}`, 409, `role: cannot demote "alice": it is the last admin of organization "acme"; make another member admin first`)
	f("PATCH", p+"alice", `{"role":"admin","department":"finops"}`, 200, "")
	f("PATCH", p+"bob", `{"role":"admin"}`, 200, "")
	f("PATCH", p+"alice", `{"role":"member"}`, 200, "")
	// alice is a member now: the members routes are closed to her.
	if st, _, _ := e.do(t, "GET", "/api/organizations/acme/members", membersKeyAlice, ""); st != 403 {
		t.Fatalf("demoted alice lists members: %d", st)
	}
	if st, r, _ := e.do(t, "DELETE", p+"bob", membersKeyBob, ""); st != 409 || r.Get("error.code").String() != "last_admin" {
		t.Fatalf("bob deletes himself as the last admin: %d %s", st, r.Raw)
	}
}

func TestMembersAuthorization(t *testing.T) {
	e := newMembersEnv(t)
	routes := []struct{ method, path, body string }{
		{"GET", "/api/organizations/acme/members", ""},
		{"POST", "/api/organizations/acme/members", `{"id":"zed","email":"zed@acme.example"}`},
		{"GET", "/api/organizations/acme/members/bob", ""},
		{"PATCH", "/api/organizations/acme/members/bob", `{"role":"admin"}`},
		{"DELETE", "/api/organizations/acme/members/bob", ""},
		{"POST", "/api/organizations/acme/members/bob/rotate", ""},
	}
	f := func(key string, status int, code string) {
		t.Helper()
		for _, rt := range routes {
			st, r, raw := e.do(t, rt.method, rt.path, key, rt.body)
			if st != status || r.Get("success").Bool() || r.Get("error.code").String() != code {
				t.Fatalf("key %q: %s %s: %d %s, want %d %s", key, rt.method, rt.path, st, raw, status, code)
			}
		}
	}
	f("", 401, "unauthorized")
	f("im_not-a-key", 401, "unauthorized")
	f(membersKeyBob, 403, "forbidden")
	f(membersKeyEve, 404, "not_found")
	// Nothing changed.
	if got := e.authID(membersKeyBob); got != "acme/bob" {
		t.Fatalf("bob = %q after refused requests", got)
	}
	if _, ok := e.dir.Member("acme", "zed"); ok {
		t.Fatal("a refused create added zed")
	}
	if st, r, _ := e.do(t, "PUT", "/api/organizations/acme/members/bob", membersKeyAlice, "{}"); st != 405 || r.Get("error.code").String() != "method_not_allowed" {
		t.Fatalf("PUT: %d %s", st, r.Raw)
	}
}

func TestLoadMembers(t *testing.T) {
	e := newMembersEnv(t)
	_, carolKey := e.create(t, `{"id":"carol","email":"carol@acme.example","department":"sales","role":"admin","monthly_limit_usd":7.25}`)
	_, daveKey := e.create(t, `{"id":"dave","email":"dave@acme.example"}`)
	e.do(t, "DELETE", "/api/organizations/acme/members/dave", membersKeyAlice, "")
	// A saved member with the id of a config member (created through the
	// API before the config declared it), and one of an org that is gone.
	put := func(key, v string) {
		t.Helper()
		if err := e.st.PutState(key, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	stale := account.HashHex(account.HashKey([]byte("k-bob-old")))
	put("member/acme/bob", `{"v":1,"org":"acme","id":"bob","email":"old@acme.example","role":"admin","key_sha256":"`+stale+`","created_at":"2026-01-01T00:00:00Z"}`)
	gone := account.HashHex(account.HashKey([]byte("k-ina")))
	put("member/initech/ina", `{"v":1,"org":"initech","id":"ina","role":"admin","key_sha256":"`+gone+`","created_at":"2026-01-01T00:00:00Z"}`)

	// A restart: the config members, then the saved ones.
	dir := membersConfigDir(t)
	if err := api.LoadMembers(e.st, dir); err != nil {
		t.Fatal(err)
	}
	m, ok := dir.Authenticate([]byte(carolKey))
	if !ok {
		t.Fatal("carol's key is refused after a restart")
	}
	want := account.Member{ID: "carol", Org: "acme", Email: "carol@acme.example", Department: "sales", BillingMode: account.OrgPays,
		Role: account.RoleAdmin, MonthlyLimitNano: 7_250_000_000, KeyHash: account.HashKey([]byte(carolKey)), CreatedAt: membersNow, Source: account.SourceAPI}
	if !m.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("created_at = %s, want %s", m.CreatedAt, want.CreatedAt)
	}
	got := *m
	got.CreatedAt = want.CreatedAt
	if got != want {
		t.Fatalf("carol after a restart:\n got %+v\nwant %+v", got, want)
	}
	if _, ok := dir.Authenticate([]byte(daveKey)); ok {
		t.Fatal("a deleted member's key works after a restart")
	}
	// The config member wins, and the stale record is dropped.
	if b, _ := dir.Member("acme", "bob"); b.Email != "bob@acme.example" || b.Source != account.SourceConfig || b.KeyHash != account.HashKey([]byte(membersKeyBob)) {
		t.Fatalf("bob after a restart: %+v", b)
	}
	if _, ok := dir.Authenticate([]byte("k-bob-old")); ok {
		t.Fatal("the stale saved key of a config member works")
	}
	if got := e.state(t, "acme", "bob"); got != "" {
		t.Fatalf("stale record of a config member kept: %s", got)
	}
	// The member of an unknown org is skipped and kept.
	if _, ok := dir.Authenticate([]byte("k-ina")); ok {
		t.Fatal("a member of an unconfigured org was loaded")
	}
	if got := e.state(t, "initech", "ina"); got == "" {
		t.Fatal("the saved member of an unconfigured org was dropped")
	}
	// No saved value holds a clear key.
	err := e.st.ScanState("", func(k string, v []byte) bool {
		for _, key := range []string{carolKey, daveKey} {
			if strings.Contains(string(v), key) {
				t.Errorf("state %q holds a clear key", k)
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadMembersRefusesDamagedRecords(t *testing.T) {
	f := func(value, want string) {
		t.Helper()
		st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.PutState("member/acme/x", []byte(value)); err != nil {
			t.Fatal(err)
		}
		err = api.LoadMembers(st, membersConfigDir(t))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("LoadMembers(%s) = %v, want an error with %q", value, err, want)
		}
	}
	f(`{"v":1,`, `cannot decode saved member "member/acme/x"`)
	f(`{"v":1,"org":"acme","id":"x","key_sha256":"abc"}`, `cannot decode saved member "member/acme/x": key_sha256 is not 64 hex digits`)
	// A saved key that a config member uses since.
	h := account.HashHex(account.HashKey([]byte(membersKeyBob)))
	f(`{"v":1,"org":"acme","id":"x","key_sha256":"`+h+`"}`, `cannot load saved member "member/acme/x"`)
}

// FuzzMemberCreate sends any body to the create route: the answer is a
// 201, 400 or 409 with "success", and a 201 adds a member whose key works.
func FuzzMemberCreate(f *testing.F) {
	for _, s := range []string{
		`{"id":"carol","email":"carol@acme.example","department":"sales","billing_mode":"member_pays","role":"member","monthly_limit_usd":12.5}`,
		`{"email":"x@acme.example"}`,
		`{"email":"x@acme.example","monthly_limit_usd":1e-12}`,
		`{"id":"bob","email":"b@acme.example"}`,
		`{"email":"c@acme.example","role":"boss"}`,
		`{"email":"c@acme.example","monthly_limit_usd":null,"id":"a.b-c_d"}`,
		`[]`, ``, `{`,
	} {
		f.Add(s)
	}
	e := newMembersEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		st, r, raw := e.do(t, "POST", "/api/organizations/acme/members", membersKeyAlice, body)
		switch st {
		case 201:
			key := r.Get("api_key").String()
			if got := e.authID(key); got != "acme/"+r.Get("member.id").String() {
				t.Fatalf("created %s, key authenticates as %q", raw, got)
			}
		case 400, 409:
			if r.Get("success").Bool() || r.Get("error.message").String() == "" {
				t.Fatalf("refusal without an error: %s", raw)
			}
		default:
			t.Fatalf("status %d: %s", st, raw)
		}
	})
}
