package dialect

// ArrayScanner splits a streamed JSON array (Gemini's streamGenerateContent
// without alt=sse: "[{...}\n,\r\n{...}\n]") into its top-level elements
// incrementally. Depth tracking is string- and escape-aware, so braces inside
// strings do not confuse it. Only object and array elements are yielded
// (Gemini sends objects); a body that is a bare object (an error) yields that
// object. It keeps only the element in progress between calls and does not
// allocate once its buffer has grown. The zero value is ready to use; a
// scanner is not safe for concurrent use.
type ArrayScanner struct {
	buf    []byte // bytes of the element in progress, when split across Feeds
	began  bool   // a non-space byte was seen
	inElem bool
	depth  int
	inStr  bool
	esc    bool
}

// Reset forgets all state, keeping the buffer for reuse.
func (a *ArrayScanner) Reset() {
	*a = ArrayScanner{buf: a.buf[:0]}
}

// Feed scans p and calls fn for every element that p completes. The element
// slice is valid only during fn; p is not retained.
func (a *ArrayScanner) Feed(p []byte, fn func(elem []byte)) {
	i := 0
	for i < len(p) {
		if a.inElem {
			start := i
			j, done := a.scan(p, i)
			if !done {
				a.buf = append(a.buf, p[start:]...)
				return
			}
			a.inElem = false
			if len(a.buf) > 0 {
				a.buf = append(a.buf, p[start:j]...)
				fn(a.buf)
				a.buf = a.buf[:0]
			} else {
				fn(p[start:j])
			}
			i = j
			continue
		}
		switch c := p[i]; c {
		case ' ', '\t', '\r', '\n', ',', ']':
			i++
		case '[':
			if !a.began {
				a.began = true
				i++
				continue
			}
			a.startElem()
		case '{':
			a.began = true
			a.startElem()
		default:
			// Not an element we yield (scalar or garbage): skip it.
			a.began = true
			i++
		}
	}
}

func (a *ArrayScanner) startElem() {
	a.inElem, a.depth, a.inStr, a.esc = true, 0, false, false
}

// scan advances over element bytes from i, returning the index after the
// element's closing bracket and true, or len(p) and false.
func (a *ArrayScanner) scan(p []byte, i int) (int, bool) {
	for ; i < len(p); i++ {
		c := p[i]
		if a.inStr {
			switch {
			case a.esc:
				a.esc = false
			case c == '\\':
				a.esc = true
			case c == '"':
				a.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			a.inStr = true
		case '{', '[':
			a.depth++
		case '}', ']':
			a.depth--
			if a.depth <= 0 {
				return i + 1, true
			}
		}
	}
	return i, false
}
