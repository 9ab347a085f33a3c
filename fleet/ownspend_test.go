package fleet

import "testing"

func TestOwnSpendKey(t *testing.T) {
	for _, c := range []struct {
		start       int64
		org, member string
	}{
		{1798761600, "acme", "alice"},
		{0, "a/b", "c/d"},
		{-3600, "", "m"},
		{1798761600, "12/x", ""},
	} {
		k := ownSpendKey(c.start, c.org, c.member)
		start, org, member, ok := parseOwnSpendKey(k)
		if !ok || start != c.start || org != c.org || member != c.member {
			t.Errorf("%q parses as %d %q %q %v, want %d %q %q", k, start, org, member, ok, c.start, c.org, c.member)
		}
	}
	for _, k := range []string{"", "fleet/own-spend/", "fleet/own-spend/1/", "fleet/own-spend/x/1/ab", "fleet/own-spend/1/9/ab", "fleet/own-spend/1/-1/ab", "other/1/1/ab"} {
		if _, _, _, ok := parseOwnSpendKey(k); ok {
			t.Errorf("%q parses", k)
		}
	}
}
