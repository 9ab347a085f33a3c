package dialect

import (
	"encoding/binary"
	"math/bits"
	"strings"
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

// The walkers below read a JSON document once. A walk over an object yields
// its members in order, each as its unescaped name and its raw value (a
// substring of the document, so nothing is copied); a walk over an array
// yields its elements with an empty name. The readers pick the fields they
// need from one walk instead of one gjson.Get pass per field.
//
// Semantics are gjson.Get's for well-formed JSON: the first member of a name
// wins, names are compared unescaped, and a raw value is a string (with its
// quotes), an object or array (with its brackets), a number or a literal. A
// lenient walk (walk) does not validate: it stops at the first member it
// cannot delimit, having yielded the members before it, and yields a
// container left open at the end of the input as the rest of the input,
// like gjson. A strict walk (walkStrict) validates every byte it passes
// exactly as gjson.Valid does, so a strict walk of a whole document is the
// validity check and the field lookup in one pass.

// iter walks the members of a JSON object or the elements of a JSON array.
// Call next until it returns false; key and val are then the current
// member (or call nextKey and consume each value yourself). The zero iter
// yields nothing. An iter is a value on the caller's stack: it does not
// allocate.
type iter struct {
	j       string
	i       int
	close   byte // '}' or ']'; 0 when there is nothing to walk
	strict  bool
	started bool
	done    bool // reached the closing bracket
	bad     bool // stopped on malformed input

	// key is the current member's name, unescaped ("" for array elements).
	key string
	// val is the current member's raw value, never empty.
	val string
}

// walk starts a lenient walk of raw, an object or array after optional
// whitespace. Anything else yields nothing.
func walk(raw string) iter {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return iter{}
	}
	switch raw[i] {
	case '{':
		return iter{j: raw, i: i + 1, close: '}'}
	case '[':
		return iter{j: raw, i: i + 1, close: ']'}
	}
	return iter{}
}

// walkStrict starts a strict walk of the object that doc starts with (doc
// has no leading whitespace). After the last next, valid tells whether doc
// was valid JSON.
func walkStrict(doc string) iter {
	if len(doc) == 0 || doc[0] != '{' {
		return iter{bad: true}
	}
	return iter{j: doc, i: 1, close: '}', strict: true}
}

// valid reports whether a strict walk ended at its closing bracket with
// nothing but whitespace after it: the whole document was valid JSON.
func (it *iter) valid() bool {
	return it.done && !it.bad && skipSpace(it.j, it.i) == len(it.j)
}

func (it *iter) fail() bool {
	it.bad, it.done = true, true
	it.key, it.val = "", ""
	return false
}

// next advances to the next member and reports whether there is one.
func (it *iter) next() bool {
	return it.nextKey() && it.value()
}

// nextKey advances to the next member and reports whether there is one, like
// next, but stops at the start of its value: key is set and val is empty.
// The caller then consumes the value with value, or walks it in place with
// enter and resume.
func (it *iter) nextKey() bool {
	if it.done || it.close == 0 {
		return false
	}
	j := it.j
	i := skipSpace(j, it.i)
	if i >= len(j) {
		return it.fail()
	}
	if j[i] == it.close {
		it.i, it.done = i+1, true
		it.key, it.val = "", ""
		return false
	}
	if it.started {
		if j[i] != ',' {
			return it.fail()
		}
		if i = skipSpace(j, i+1); i >= len(j) {
			return it.fail()
		}
	}
	it.started = true
	it.key, it.val = "", ""
	if it.close == '}' {
		if j[i] != '"' {
			return it.fail()
		}
		var end int
		var esc bool
		if it.strict {
			var ok bool
			if end, esc, ok = validStringEsc(j, i); !ok {
				return it.fail()
			}
		} else if end, esc = stringEnd(j, i); end > len(j) {
			return it.fail()
		}
		if it.key = j[i+1 : end-1]; esc {
			// Names with escapes compare unescaped, as in gjson (which
			// allocates for them too); provider payloads have none.
			it.key = gjson.Parse(j[i:end]).Str
		}
		i = skipSpace(j, end)
		if i >= len(j) || j[i] != ':' {
			return it.fail()
		}
		if i = skipSpace(j, i+1); i >= len(j) {
			return it.fail()
		}
	}
	it.i = i
	return true
}

// value consumes the value of the member nextKey stopped at into val (a
// strict walk validates it) and reports false, ending the walk, when the
// value is malformed.
func (it *iter) value() bool {
	j, i := it.j, it.i
	var end int
	if it.strict {
		var ok bool
		if end, ok = validValue(j, i); !ok {
			return it.fail()
		}
	} else if end = valueEnd(j, i); end <= i {
		return it.fail()
	}
	it.val = j[i:end]
	it.i = end
	return true
}

// enter returns a lenient walk, in place, of the value of the member
// nextKey stopped at: the zero iter when it is not an object or array. Walk
// it to its end, then call resume. For lenient walks only.
func (it *iter) enter() iter {
	switch it.j[it.i] {
	case '{':
		return iter{j: it.j, i: it.i + 1, close: '}'}
	case '[':
		return iter{j: it.j, i: it.i + 1, close: ']'}
	}
	return iter{}
}

// resume consumes the value c (from enter) has walked: when c reached its
// closing bracket, val is the value c walked and the walk goes on after
// it, so the value was read once; otherwise the value is consumed as value
// does.
func (it *iter) resume(c *iter) bool {
	if c.done && !c.bad {
		it.val = it.j[it.i:c.i]
		it.i = c.i
		return true
	}
	return it.value()
}

// space marks JSON whitespace; structural marks the bytes valueEnd stops
// at inside an object or array. Both are read-only.
var (
	space      = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}
	structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}
)

func skipSpace(j string, i int) int {
	for i < len(j) && j[i] <= ' ' && space[j[i]] {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string whose
// opening quote is at i (len(j)+1 when it is not closed) and whether the
// string has escapes. It looks at eight bytes at a time.
func stringEnd(j string, i int) (int, bool) {
	esc := false
	k := i + 1
	for {
		for k+8 <= len(j) {
			if m := quoteOrBackslash(j, k); m != 0 {
				k += bits.TrailingZeros64(m) >> 3
				break
			}
			k += 8
		}
		for k < len(j) && j[k] != '"' && j[k] != '\\' {
			k++
		}
		if k >= len(j) {
			return len(j) + 1, esc
		}
		if j[k] == '"' {
			return k + 1, esc
		}
		esc = true
		k += 2
	}
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// quoteOrBackslash returns a mask whose lowest set bit is the high bit of
// the first byte of j[k:k+8] that is a quote or a backslash (bits above it
// may be wrong); 0 when there is none.
func quoteOrBackslash(j string, k int) uint64 {
	x := binary.LittleEndian.Uint64(s2b(j[k : k+8]))
	q := x ^ ('"' * ones)
	b := x ^ ('\\' * ones)
	return ((q-ones)&^q | (b-ones)&^b) & highs
}

// valueEnd returns the end of the JSON value starting at i, without
// validating: strings end at their closing quote, objects and arrays at the
// bracket that closes them (string-aware), anything else at whitespace, ',',
// ']' or '}' (where gjson ends a number). An unclosed string or container
// ends at len(j).
func valueEnd(j string, i int) int {
	switch j[i] {
	case '"':
		end, _ := stringEnd(j, i)
		return min(end, len(j))
	case '{', '[':
		depth := 0
		for k := i; k < len(j); k++ {
			for k < len(j) && !structural[j[k]] {
				k++
			}
			if k >= len(j) {
				break
			}
			switch j[k] {
			case '"':
				end, _ := stringEnd(j, k)
				k = end - 1
			case '{', '[':
				depth++
			default: // '}', ']'
				if depth--; depth == 0 {
					return k + 1
				}
			}
		}
		return len(j)
	}
	k := i
	for k < len(j) && j[k] > ' ' && j[k] != ',' && j[k] != ']' && j[k] != '}' {
		k++
	}
	return k
}

// validValue returns the end of the valid JSON value starting at i, or
// false; the grammar is gjson.Valid's.
func validValue(j string, i int) (int, bool) {
	if i >= len(j) {
		return i, false
	}
	switch c := j[i]; c {
	case '{':
		return validObject(j, i+1)
	case '[':
		return validArray(j, i+1)
	case '"':
		return validString(j, i)
	case 't':
		return i + 4, strings.HasPrefix(j[i:], "true")
	case 'f':
		return i + 5, strings.HasPrefix(j[i:], "false")
	case 'n':
		return i + 4, strings.HasPrefix(j[i:], "null")
	default:
		if c == '-' || isDigit(c) {
			return validNumber(j, i)
		}
	}
	return i, false
}

// validObject returns the end of the valid JSON object whose members start
// at i (after the '{'), or false.
func validObject(j string, i int) (int, bool) {
	i = skipSpace(j, i)
	if i < len(j) && j[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(j) || j[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = validString(j, i); !ok {
			return i, false
		}
		if i = skipSpace(j, i); i >= len(j) || j[i] != ':' {
			return i, false
		}
		if i, ok = validValue(j, skipSpace(j, i+1)); !ok {
			return i, false
		}
		if i = skipSpace(j, i); i >= len(j) {
			return i, false
		}
		switch j[i] {
		case '}':
			return i + 1, true
		case ',':
			i = skipSpace(j, i+1)
		default:
			return i, false
		}
	}
}

// validArray returns the end of the valid JSON array whose elements start
// at i (after the '['), or false.
func validArray(j string, i int) (int, bool) {
	i = skipSpace(j, i)
	if i < len(j) && j[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = validValue(j, i); !ok {
			return i, false
		}
		if i = skipSpace(j, i); i >= len(j) {
			return i, false
		}
		switch j[i] {
		case ']':
			return i + 1, true
		case ',':
			i = skipSpace(j, i+1)
		default:
			return i, false
		}
	}
}

// validString returns the index after the closing quote of the valid JSON
// string whose opening quote is at i, or false.
func validString(j string, i int) (int, bool) {
	end, _, ok := validStringEsc(j, i)
	return end, ok
}

// validStringEsc is validString that also tells whether the string has
// escapes. It checks eight bytes at a time for a quote, a backslash or a
// control character.
func validStringEsc(j string, i int) (int, bool, bool) {
	esc := false
	k := i + 1
	for {
		for k+8 <= len(j) {
			x := binary.LittleEndian.Uint64(s2b(j[k : k+8]))
			// A byte below 0x20, a quote or a backslash?
			if m := (x-' '*ones)&^x&highs | quoteOrBackslash(j, k); m != 0 {
				k += bits.TrailingZeros64(m) >> 3
				break
			}
			k += 8
		}
		for ; k < len(j); k++ {
			if c := j[k]; c == '"' || c == '\\' || c < ' ' {
				break
			}
		}
		if k >= len(j) {
			return len(j), esc, false
		}
		switch c := j[k]; {
		case c == '"':
			return k + 1, esc, true
		case c < ' ':
			return k, esc, false
		}
		// A backslash.
		esc = true
		if k++; k >= len(j) {
			return k, esc, false
		}
		switch j[k] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			k++
		case 'u':
			if k+4 >= len(j) || !isHex(j[k+1]) || !isHex(j[k+2]) || !isHex(j[k+3]) || !isHex(j[k+4]) {
				return k, esc, false
			}
			k += 5
		default:
			return k, esc, false
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber returns the end of the valid JSON number starting at i (a '-'
// or a digit), or false.
func validNumber(j string, i int) (int, bool) {
	if j[i] == '-' {
		if i++; i >= len(j) || !isDigit(j[i]) {
			return i, false
		}
	}
	if j[i] == '0' {
		i++
	} else {
		for i < len(j) && isDigit(j[i]) {
			i++
		}
	}
	if i < len(j) && j[i] == '.' {
		if i++; i >= len(j) || !isDigit(j[i]) {
			return i, false
		}
		for i < len(j) && isDigit(j[i]) {
			i++
		}
	}
	if i < len(j) && (j[i] == 'e' || j[i] == 'E') {
		i++
		if i < len(j) && (j[i] == '+' || j[i] == '-') {
			i++
		}
		if i >= len(j) || !isDigit(j[i]) {
			return i, false
		}
		for i < len(j) && isDigit(j[i]) {
			i++
		}
	}
	return i, true
}

// first stores v in *p unless an earlier member already did: the first
// member of a name wins, as with gjson.Get.
func first(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// memberRaw returns the raw value of the first member key of the object
// obj, or "" (lenient; it stops at the member).
func memberRaw(obj, key string) string {
	it := walk(obj)
	if it.close != '}' {
		return ""
	}
	for it.next() {
		if it.key == key {
			return it.val
		}
	}
	return ""
}

// firstIn stores in *p the raw value of the first member key of obj unless
// an earlier object already had one: with duplicate names, gjson.Get's
// dotted path "name.key" takes the first member "name" that leads to a
// value.
func firstIn(p *string, obj, key string) {
	if *p == "" {
		*p = memberRaw(obj, key)
	}
}

// lookup returns the raw value at a dotted path in raw, as gjson.Get does:
// a path element names an object member or, as a decimal, an array index,
// and with duplicate names the first member that leads to a value wins.
// It returns "" when there is none.
func lookup(raw string, path ...string) string {
	if len(path) == 0 {
		return raw
	}
	it := walk(raw)
	switch it.close {
	case '}':
		for it.next() {
			if it.key != path[0] {
				continue
			}
			if v := lookup(it.val, path[1:]...); v != "" {
				return v
			}
		}
	case ']':
		if path[0] == "" || !isDigit(path[0][0]) {
			return ""
		}
		n, ok := smallInt(path[0])
		if !ok {
			return ""
		}
		for i := int64(0); it.next(); i++ {
			if i == n {
				return lookup(it.val, path[1:]...)
			}
		}
	}
	return ""
}

// isObject and isArray tell the type of a raw value (gjson's IsObject,
// IsArray).
func isObject(v string) bool { return len(v) > 0 && v[0] == '{' }
func isArray(v string) bool  { return len(v) > 0 && v[0] == '[' }

// isString reports whether the raw value v is a JSON string.
func isString(v string) bool { return len(v) > 0 && v[0] == '"' }

// isNumber reports whether gjson.Get types the raw value v as a number:
// valid JSON numbers, and in lenient walks what gjson also takes for one
// (a leading '+', NaN, Inf).
func isNumber(v string) bool {
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'i', 'I', 'N':
		return true
	case 'n':
		return len(v) > 1 && v[1] != 'u'
	}
	return false
}

// strVal returns the text of the raw JSON string v, as gjson's Result.Str:
// v's own bytes when it has no escapes, else an unescaped copy. Non-strings
// give "".
func strVal(v string) string {
	if !isString(v) {
		return ""
	}
	if len(v) >= 2 && strings.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	return gjson.Parse(v).Str
}

// rawStrBytes returns the text of the raw JSON string v as bytes aliasing
// doc when it has no escapes, else an unescaped copy. Non-strings give nil.
func rawStrBytes(doc []byte, v string) []byte {
	if !isString(v) {
		return nil
	}
	if len(v) >= 2 && !hasBackslash(v) {
		return alias(doc, v[1:len(v)-1])
	}
	return []byte(strVal(v))
}

// setNum stores the raw JSON number v into c, as gjson's Result.Int reads
// it (negative numbers as 0, numbers above usage.MaxCount as MaxCount),
// and reports true. Anything gjson does not type as a number (absent,
// null, a string) leaves c alone.
func setNum(c *usage.Count, v string) bool {
	if !isNumber(v) {
		return false
	}
	n, ok := smallInt(v)
	if !ok {
		n = gjson.Parse(v).Int()
	}
	n = min(max(n, 0), usage.MaxCount)
	c.Set(n)
	return true
}

// smallInt parses an optionally negative integer of at most 18 digits, the
// shape of every token count; gjson's Result.Int gives the same value for
// it. Anything else reports false.
func smallInt(v string) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// appendRawText appends the text of the raw JSON string v (unescaped) to
// dst, never growing dst beyond limit bytes. Non-strings append nothing.
func appendRawText(dst []byte, v string, limit int) []byte {
	if !isString(v) || len(v) < 2 {
		return dst
	}
	return appendUnquoted(dst, v[1:len(v)-1], limit)
}
