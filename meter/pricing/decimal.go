package pricing

// picoPerUSD is the number of pico-dollars in one US dollar.
const picoPerUSD = 12 // as a power of ten

// maxExponent bounds the exponent of a decimal so that its parsing cannot
// overflow; anything beyond it is out of range (or rounds to zero).
const maxExponent = 400

// decimalStatus is the outcome of parsePico.
type decimalStatus uint8

const (
	decimalOK decimalStatus = iota
	decimalSyntax
	decimalNegative
	decimalRange
)

// parsePico converts the decimal text of a USD amount (JSON number grammar:
// "2.5e-06", "0.0001", "3", "-1E+2") to integer pico-dollars, exactly: the
// text is read as a decimal, never through a float. Digits finer than one
// pico-dollar are rounded half-up. It never allocates.
func parsePico(s string) (int64, decimalStatus) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	// Significant digits (leading zeros dropped), at most 19 kept; any
	// further non-zero digit only matters for rounding, tracked in sticky.
	var digits [20]byte
	n := 0
	dropped := 0 // significant integer digits beyond the kept ones
	fracLen := 0 // kept digits after the decimal point
	seenDigit := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		seenDigit = true
		if n == 0 && s[i] == '0' {
			continue
		}
		if n < len(digits) {
			digits[n] = s[i]
			n++
		} else {
			dropped++
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			seenDigit = true
			if n == 0 && s[i] == '0' {
				fracLen++
				continue
			}
			if n < len(digits) {
				digits[n] = s[i]
				n++
				fracLen++
			}
			// Fraction digits beyond 20 significant ones are far below a
			// pico-dollar for any value in range; they are ignored.
		}
	}
	if !seenDigit {
		return 0, decimalSyntax
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			expNeg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return 0, decimalSyntax
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if exp < 10*maxExponent {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return 0, decimalSyntax
	}
	if n == 0 {
		return 0, decimalOK // zero, whatever its exponent
	}
	if neg {
		return 0, decimalNegative
	}
	// value = digits[:n] × 10^(e) pico-dollars.
	e := exp - fracLen + dropped + picoPerUSD
	if e > maxExponent {
		return 0, decimalRange
	}
	if e < -maxExponent {
		return 0, decimalOK
	}
	whole := n + e // digits that form the integer part
	if whole > 19 {
		return 0, decimalRange
	}
	var v uint64
	for k := 0; k < whole; k++ {
		d := uint64(0)
		if k < n {
			d = uint64(digits[k] - '0')
		}
		v = v*10 + d
	}
	if whole >= 0 && whole < n && digits[whole] >= '5' {
		v++
	}
	if v > 1<<63-1 {
		return 0, decimalRange
	}
	return int64(v), decimalOK
}
