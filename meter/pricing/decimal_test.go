package pricing

import (
	"math/big"
	"strconv"
	"testing"
)

func TestParsePico(t *testing.T) {
	f := func(in string, want int64, wantSt decimalStatus) {
		t.Helper()
		got, st := parsePico(in)
		if got != want || st != wantSt {
			t.Errorf("parsePico(%q) = %d, %d; want %d, %d", in, got, st, want, wantSt)
		}
	}
	// Exact, with no float drift.
	f("2.5e-06", 2_500_000, decimalOK)
	f("3.75e-06", 3_750_000, decimalOK)
	f("1.25e-07", 125_000, decimalOK)
	f("2e-08", 20_000, decimalOK)
	f("0.0001", 100_000_000, decimalOK)
	f("3.125e-07", 312_500, decimalOK)
	f("2.125e-06", 2_125_000, decimalOK)
	f("1.7e-05", 17_000_000, decimalOK)
	f("2.4414e-07", 244_140, decimalOK)
	f("11.62e-03", 11_620_000_000, decimalOK)
	f("0.00166", 1_660_000_000, decimalOK)
	f("1E-6", 1_000_000, decimalOK)
	f("1e+0", 1_000_000_000_000, decimalOK)
	f("1", 1_000_000_000_000, decimalOK)
	f("00012.5e-6", 12_500_000, decimalOK)
	f("0.000000000001", 1, decimalOK)
	f(".5", 500_000_000_000, decimalOK)
	f("5.", 5_000_000_000_000, decimalOK)
	// Zero in any spelling.
	f("0", 0, decimalOK)
	f("0.0", 0, decimalOK)
	f("-0", 0, decimalOK)
	f("0e999999999", 0, decimalOK)
	// Finer than a pico-dollar: half-up.
	f("1.5e-13", 0, decimalOK)
	f("4.9e-13", 0, decimalOK)
	f("5e-13", 1, decimalOK)
	f("1.5e-12", 2, decimalOK)
	f("1e-400", 0, decimalOK)
	// Limits: MaxInt64 is 9_223_372_036_854_775_807 pico ≈ 9.2e6 USD.
	f("9e6", 9_000_000_000_000_000_000, decimalOK)
	f("9223372.036854775807", 9_223_372_036_854_775_807, decimalOK)
	f("9223372.036854775808", 0, decimalRange)
	f("9.3e6", 0, decimalRange)
	f("1e400", 0, decimalRange)
	f("123456789012345678901234567890", 0, decimalRange)
	// Not numbers.
	f("-1e-06", 0, decimalNegative)
	f("", 0, decimalSyntax)
	f("-", 0, decimalSyntax)
	f(".", 0, decimalSyntax)
	f("abc", 0, decimalSyntax)
	f("1e", 0, decimalSyntax)
	f("1e+", 0, decimalSyntax)
	f("1.2.3", 0, decimalSyntax)
	f("1 ", 0, decimalSyntax)
	f("0x10", 0, decimalSyntax)
	f("NaN", 0, decimalSyntax)
}

// refPico is the exact reference for parsePico: value × 1e12, rounded
// half-up, with math/big.
func refPico(s string) (int64, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(1_000_000_000_000))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

func FuzzParsePico(f *testing.F) {
	for _, s := range []string{"2.5e-06", "3.75e-06", "0.0001", "5e-13", "9e6", "1e400", "-1", "11.62e-03", "0.000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, st := parsePico(s)
		if st != decimalOK {
			if got != 0 {
				t.Fatalf("parsePico(%q) = %d with status %d", s, got, st)
			}
			return
		}
		if got < 0 {
			t.Fatalf("parsePico(%q) = %d, negative", s, got)
		}
		// Compare with math/big on inputs it reads the same way (JSON
		// numbers with a modest exponent).
		if len(s) > 40 || !isJSONNumber(s) {
			return
		}
		if e := exponentOf(s); e > 30 || e < -30 {
			return
		}
		want, ok := refPico(s)
		if ok && got != want {
			t.Fatalf("parsePico(%q) = %d, math/big says %d", s, got, want)
		}
	})
}

// isJSONNumber reports whether s follows the JSON number grammar (strconv
// accepts more).
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// exponentOf returns the explicit exponent of a JSON number, or 0.
func exponentOf(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			n, err := strconv.Atoi(s[i+1:])
			if err != nil {
				return 1 << 20
			}
			return n
		}
	}
	return 0
}
