package dialect

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// member is memberRaw typed as a gjson.Result (the shape TestMember
// checks): string values come back with Type String and only Raw set, so
// nothing is unescaped or allocated.
func member(obj gjson.Result, key string) gjson.Result {
	if obj.Type != gjson.JSON {
		return gjson.Result{}
	}
	v := memberRaw(obj.Raw, key)
	switch {
	case v == "":
		return gjson.Result{}
	case v[0] == '"':
		return gjson.Result{Type: gjson.String, Raw: v}
	case v[0] == '{' || v[0] == '[':
		return gjson.Result{Type: gjson.JSON, Raw: v}
	}
	return gjson.Parse(v)
}

// TestWalkStrictValid checks that a strict walk of a document judges its
// validity exactly as gjson.Valid, which ExtractBody no longer calls for
// object bodies.
func TestWalkStrictValid(t *testing.T) {
	f := func(doc string) {
		t.Helper()
		it := walkStrict(doc)
		for it.next() {
		}
		if got, want := it.valid(), gjson.Valid(doc); got != want {
			t.Errorf("walkStrict(%q).valid() = %v, gjson.Valid = %v", doc, got, want)
		}
	}
	for _, doc := range []string{
		`{}`, `{ }`, `{"a":1}`, `{"a":1}  `, `{"a":1} x`, `{"a":1}}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{"a":[1,2,{"b":[]}],"c":{"d":null,"e":true,"f":false}}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `{"a":[}`, `{"a":{]}`,
		`{"a":01}`, `{"a":-}`, `{"a":-0}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":1E-7}`, `{"a":-1.5e+30}`, `{"a":+1}`,
		`{"a":tru}`, `{"a":nul}`, `{"a":falsey}`, `{"a":NaN}`, `{"a":"\u00e9\n\"\\\/\b\f\r\t"}`, `{"a":"\x"}`, `{"a":"\u12"}`,
		`{"a":"\u12g4"}`, "{\"a\":\"tab\there\"}", "{\"a\":\"\x7f\xff\"}", `{"a":"unterminated}`, `{"a\u0062":1}`, `{"a\q":1}`,
		"{\"a\x01\":1}", `{"a":1`, `{"a"`, `{`, `{"a":"` + strings.Repeat("0123456789", 10) + `\"` + strings.Repeat("x", 17) + `"}`,
		"{\"a\":\"" + strings.Repeat("é", 20) + "\x1f\"}",
	} {
		f(doc)
	}
}

func FuzzWalkStrict(f *testing.F) {
	seedFixtures(f, ".json")
	f.Add([]byte(`{"a":[1,{"b":"\u00e9"}],"c":-1.5e3}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		it := walkStrict(bstr(doc))
		var keys []string
		for it.next() {
			keys = append(keys, it.key)
		}
		valid := len(doc) > 0 && doc[0] == '{' && gjson.ValidBytes(doc)
		if it.valid() != valid {
			t.Fatalf("walkStrict(%q).valid() = %v, gjson.ValidBytes = %v", doc, it.valid(), valid)
		}
		if !valid {
			return
		}
		// A valid document walks the same leniently, and each member is
		// what gjson.Get finds for the first occurrence of its name.
		lit := walk(bstr(doc))
		seen := map[string]bool{}
		for k := 0; lit.next(); k++ {
			if k >= len(keys) || lit.key != keys[k] {
				t.Fatalf("lenient walk differs at member %d", k)
			}
			if seen[lit.key] || !plainName(lit.key) {
				continue // gjson reads other names as path syntax
			}
			seen[lit.key] = true
			if r := gjson.GetBytes(doc, lit.key); r.Raw != lit.val {
				t.Fatalf("member %q = %q, gjson.Get = %q", lit.key, lit.val, r.Raw)
			}
		}
	})
}

func TestLookup(t *testing.T) {
	f := func(doc string, path []string, want string) {
		t.Helper()
		if got := lookup(doc, path...); got != want {
			t.Errorf("lookup(%s, %q) = %q, want %q", doc, path, got, want)
		}
		if g := gjson.Get(doc, strings.Join(path, ".")).Raw; g != want {
			t.Errorf("gjson.Get(%s, %q) = %q, want %q (test is wrong)", doc, path, g, want)
		}
	}
	f(`{"a":{"b":1}}`, []string{"a", "b"}, `1`)
	f(`{"a":1,"a":{"b":2}}`, []string{"a", "b"}, `2`) // the first "a" that leads somewhere
	f(`{"a":[{"b":1}],"a":{"b":2}}`, []string{"a", "b"}, `2`)
	f(`{"a":{"b":1,"b":2}}`, []string{"a", "b"}, `1`)
	f(`{"a":[{"c":1},{"b":3}],"a":[{"b":4}]}`, []string{"a", "0", "b"}, `4`)
	f(`{"a":[[],{"b":5}]}`, []string{"a", "1", "b"}, `5`)
	f(`{"a":{"0":{"b":3}}}`, []string{"a", "0", "b"}, `3`)
	f(`{"a":[1]}`, []string{"a", "-1"}, ``)
	f(`{"a":[1]}`, []string{"a", "x"}, ``)
}

// plainName reports whether a member name has no gjson path syntax.
func plainName(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return k != ""
}
