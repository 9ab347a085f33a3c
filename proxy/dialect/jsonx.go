package dialect

import (
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter/usage"
)

// bstr views b as a string without copying. The string must not outlive b and
// b must not change while the string is in use; gjson results obtained
// through it alias b.
func bstr(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// get reads one field of a JSON document without copying (gjson.GetBytes
// copies its results; this does not).
func get(b []byte, path string) gjson.Result {
	return gjson.Get(bstr(b), path)
}

// alias returns the bytes of str, a substring of b, as a sub-slice of b. When
// str does not lie inside b (gjson had to unescape it) it returns a copy.
func alias(b []byte, str string) []byte {
	if len(str) == 0 {
		return nil
	}
	if len(b) > 0 {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		p := uintptr(unsafe.Pointer(unsafe.StringData(str)))
		if p >= base && p+uintptr(len(str)) <= base+uintptr(len(b)) {
			off := int(p - base)
			return b[off : off+len(str) : off+len(str)]
		}
	}
	return []byte(str)
}

// offset returns where str, a substring of b, starts in b, or -1.
func offset(b []byte, str string) int {
	if len(b) == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(str)))
	if p < base || p+uintptr(len(str)) > base+uintptr(len(b)) {
		return -1
	}
	return int(p - base)
}

// strBytes returns the value of a JSON string result as bytes aliasing b when
// the string has no escapes, else an unescaped copy. Non-strings give nil.
func strBytes(b []byte, r gjson.Result) []byte {
	if r.Type != gjson.String {
		return nil
	}
	raw := r.Raw
	if len(raw) >= 2 && !hasBackslash(raw) {
		return alias(b, raw[1:len(raw)-1])
	}
	return []byte(r.Str)
}

func hasBackslash(str string) bool {
	for i := 0; i < len(str); i++ {
		if str[i] == '\\' {
			return true
		}
	}
	return false
}

// setCount stores a JSON number result into c when it is a number; negative
// numbers count as 0. Anything else (absent, null, string) leaves c alone.
func setCount(c *usage.Count, r gjson.Result) bool {
	if r.Type != gjson.Number {
		return false
	}
	n := r.Int()
	if n < 0 {
		n = 0
	}
	c.Set(n)
	return true
}

// appendText appends the value of a JSON string result (unescaped) to dst,
// never growing dst beyond limit bytes. Non-strings append nothing.
func appendText(dst []byte, r gjson.Result, limit int) []byte {
	if r.Type != gjson.String || len(r.Raw) < 2 {
		return dst
	}
	return appendUnquoted(dst, r.Raw[1:len(r.Raw)-1], limit)
}

// appendUnquoted decodes the body of a JSON string literal (without the
// quotes) into dst, stopping at limit bytes. It does not allocate beyond dst.
func appendUnquoted(dst []byte, q string, limit int) []byte {
	for i := 0; i < len(q); {
		if len(dst) >= limit {
			return dst
		}
		c := q[i]
		if c != '\\' {
			j := i + 1
			for j < len(q) && q[j] != '\\' {
				j++
			}
			if room := limit - len(dst); j-i > room {
				j = i + room
			}
			dst = append(dst, q[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(q) {
			return dst
		}
		e := q[i+1]
		i += 2
		switch e {
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r, n := decodeU(q[i:])
			i += n
			if utf16IsHigh(r) && n == 4 && i+6 <= len(q) && q[i] == '\\' && q[i+1] == 'u' {
				lo, m := decodeU(q[i+2:])
				if m == 4 && lo >= 0xDC00 && lo <= 0xDFFF {
					r = (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, e)
		}
	}
	return dst
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }

func decodeU(q string) (rune, int) {
	if len(q) < 4 {
		return utf8.RuneError, len(q)
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := q[i]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return utf8.RuneError, i
		}
	}
	return r, 4
}

// parseScaled parses a JSON decimal number (optionally signed, with fraction
// and exponent) exactly and returns it multiplied by 10^scale, rounded half
// away from zero. It reports false on malformed input or overflow. Used for
// money ("0.0123456" USD at scale 9 is 12345600 nano-dollars) and seconds.
func parseScaled(num string, scale int) (int64, bool) {
	i := 0
	neg := false
	if i < len(num) && (num[i] == '-' || num[i] == '+') {
		neg = num[i] == '-'
		i++
	}
	var mant int64
	exp := scale
	digits := 0
	sig := 0
	roundUp := false
	seenDot := false
	for ; i < len(num); i++ {
		c := num[i]
		if c == '.' {
			if seenDot {
				return 0, false
			}
			seenDot = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		digits++
		if sig == 0 && c == '0' {
			if seenDot {
				exp--
			}
			continue
		}
		if sig < 18 {
			mant = mant*10 + int64(c-'0')
			sig++
			if seenDot {
				exp--
			}
			continue
		}
		// Beyond 18 significant digits: keep the magnitude, round on the
		// first dropped digit.
		if sig == 18 {
			roundUp = c >= '5'
			sig++
		}
		if !seenDot {
			exp++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		eneg := false
		if i < len(num) && (num[i] == '-' || num[i] == '+') {
			eneg = num[i] == '-'
			i++
		}
		e, ed := 0, 0
		for ; i < len(num) && num[i] >= '0' && num[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(num[i]-'0')
			}
			ed++
		}
		if ed == 0 {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(num) {
		return 0, false
	}
	if roundUp {
		mant++
	}
	for ; exp > 0; exp-- {
		if mant > (1<<63-1)/10 {
			return 0, false
		}
		mant *= 10
	}
	if exp < 0 {
		if exp < -18 {
			mant = 0
		} else {
			p := int64(1)
			for ; exp < 0; exp++ {
				p *= 10
			}
			q, r := mant/p, mant%p
			if r >= p-r {
				q++
			}
			mant = q
		}
	}
	if neg {
		mant = -mant
	}
	return mant, true
}

// member returns the raw value of key in the JSON object obj (the first
// occurrence), without unescaping anything: gjson unescapes every string
// result it returns, which allocates for strings with escapes. It returns
// a zero Result when obj is not an object or has no such key; string values
// come back with Type String and only Raw set.
func member(obj gjson.Result, key string) gjson.Result {
	if obj.Type != gjson.JSON {
		return gjson.Result{}
	}
	j := obj.Raw
	i := skipSpace(j, 0)
	if i >= len(j) || j[i] != '{' {
		return gjson.Result{}
	}
	i++
	for {
		i = skipSpace(j, i)
		if i >= len(j) || j[i] != '"' {
			return gjson.Result{}
		}
		kEnd := skipValue(j, i)
		k := j[i:kEnd]
		i = skipSpace(j, kEnd)
		if i >= len(j) || j[i] != ':' {
			return gjson.Result{}
		}
		i = skipSpace(j, i+1)
		vEnd := skipValue(j, i)
		if vEnd <= i {
			return gjson.Result{}
		}
		if len(k) == len(key)+2 && k[1:len(k)-1] == key {
			v := j[i:vEnd]
			switch v[0] {
			case '"':
				return gjson.Result{Type: gjson.String, Raw: v}
			case '{', '[':
				return gjson.Result{Type: gjson.JSON, Raw: v}
			}
			return gjson.Parse(v) // numbers, true, false, null: no allocation
		}
		i = skipSpace(j, vEnd)
		if i >= len(j) || j[i] != ',' {
			return gjson.Result{}
		}
		i++
	}
}

func skipSpace(j string, i int) int {
	for i < len(j) && (j[i] == ' ' || j[i] == '\t' || j[i] == '\r' || j[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at i (string-aware
// bracket matching; scalars end at a delimiter).
func skipValue(j string, i int) int {
	if i >= len(j) {
		return i
	}
	switch j[i] {
	case '"':
		for k := i + 1; k < len(j); k++ {
			switch j[k] {
			case '\\':
				k++
			case '"':
				return k + 1
			}
		}
		return len(j)
	case '{', '[':
		depth, inStr := 0, false
		for k := i; k < len(j); k++ {
			c := j[k]
			if inStr {
				switch c {
				case '\\':
					k++
				case '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return k + 1
				}
			}
		}
		return len(j)
	}
	k := i
	for k < len(j) && j[k] != ',' && j[k] != '}' && j[k] != ']' && j[k] != ' ' && j[k] != '\t' && j[k] != '\r' && j[k] != '\n' {
		k++
	}
	return k
}
