// Package reporttest reads back the PDFs that package report writes, so
// tests can check what a document shows.
//
// It is a small reader for what report's writer (github.com/signintech/gopdf)
// produces, not a general PDF reader: a classic cross-reference table; a
// catalog whose page tree is one /Pages node with the pages as its kids;
// pages with indirect /Contents and /Resources; streams with a direct
// /Length, plain or FlateDecode; text shown with Tj and TJ in Type0 fonts
// with the Identity-H encoding (two-byte glyph ids), turned back into text
// with each font's ToUnicode CMap (bfchar and bfrange). Anything else (object
// or cross-reference streams, incremental updates, encryption, simple fonts,
// inline images) is refused with an error or not understood.
package reporttest

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Sentinel errors of Text; match them with errors.Is. Every error of Text
// wraps one of them.
var (
	// ErrStructure is wrapped when the file is not a whole PDF: a missing
	// header or %%EOF, a cross-reference table that does not point at its
	// objects, or a catalog, page tree or page that cannot be found.
	ErrStructure = errors.New("malformed PDF structure")
	// ErrStream is wrapped when a stream cannot be read.
	ErrStream = errors.New("unreadable PDF stream")
	// ErrFont is wrapped when shown text cannot be turned back into
	// characters: text shown without a font, a font that is not a Type0
	// Identity-H font with a ToUnicode CMap, a malformed CMap, or a glyph
	// that the CMap does not map.
	ErrFont = errors.New("unreadable PDF text")
)

// maxStream bounds an inflated stream, so a small file cannot take the
// memory of a test.
const maxStream = 64 << 20

var (
	startXRefRE = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	xrefEntryRE = regexp.MustCompile(`^(\d{10}) (\d{5}) ([nf])\s*$`)
	lengthRE    = regexp.MustCompile(`/Length\s+(\d+)`)
	rootRE      = regexp.MustCompile(`/Root\s+(\d+)\s+0\s+R`)
	pagesRE     = regexp.MustCompile(`/Pages\s+(\d+)\s+0\s+R`)
	kidsRE      = regexp.MustCompile(`/Kids\s*\[([^\]]*)\]`)
	contentsRE  = regexp.MustCompile(`/Contents\s*(\[[^\]]*\]|(?:\s*\d+\s+\d+\s+R)+)`)
	resourcesRE = regexp.MustCompile(`/Resources\s+(\d+)\s+0\s+R`)
	fontDictRE  = regexp.MustCompile(`/Font\s*<<([^>]*)>>`)
	fontRefRE   = regexp.MustCompile(`/([^\s/<>\[\]()]+)\s+(\d+)\s+0\s+R`)
	toUnicodeRE = regexp.MustCompile(`/ToUnicode\s+(\d+)\s+0\s+R`)
	refRE       = regexp.MustCompile(`(\d+)\s+\d+\s+R`)
	pageTypeRE  = regexp.MustCompile(`/Type\s*/Page\b`)
	type0RE     = regexp.MustCompile(`/Subtype\s*/Type0\b`)
	identityRE  = regexp.MustCompile(`/Encoding\s*/Identity-H\b`)
)

// Text checks the structure of pdf and returns the strings its pages show,
// page by page in drawing order, as UTF-8: one entry per Tj, or per TJ with
// its parts joined.
func Text(pdf []byte) ([]string, error) {
	objs, err := checkStructure(pdf)
	if err != nil {
		return nil, err
	}
	r := &reader{pdf: pdf, objs: objs, cmaps: map[int]*cmap{}}
	pages, err := r.pages()
	if err != nil {
		return nil, err
	}
	var out []string
	for i, page := range pages {
		shown, err := r.page(page)
		if err != nil {
			return nil, fmt.Errorf("page %d (object %d): %w", i+1, page, err)
		}
		out = append(out, shown...)
	}
	return out, nil
}

// checkStructure checks the header, the trailer and that every in-use
// entry of the cross-reference table points at "N 0 obj", and returns the
// offsets of the objects by number.
func checkStructure(pdf []byte) (map[int]int, error) {
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.")) {
		return nil, fmt.Errorf("%w: no %%PDF-1.x header", ErrStructure)
	}
	m := startXRefRE.FindSubmatch(pdf)
	if m == nil {
		return nil, fmt.Errorf("%w: no startxref and %%%%EOF at the end (truncated?)", ErrStructure)
	}
	at, err := strconv.Atoi(string(m[1]))
	if err != nil || at >= len(pdf) || !bytes.HasPrefix(pdf[at:], []byte("xref\n")) {
		return nil, fmt.Errorf("%w: startxref %s does not point at the xref table", ErrStructure, m[1])
	}
	lines := strings.Split(string(pdf[at:]), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("%w: a short xref table", ErrStructure)
	}
	var first, count int
	if _, err := fmt.Sscanf(lines[1], "%d %d", &first, &count); err != nil {
		return nil, fmt.Errorf("%w: xref subsection %q: %w", ErrStructure, lines[1], err)
	}
	if first < 0 || count < 2 || len(lines) < 2+count {
		return nil, fmt.Errorf("%w: xref table of %d entries", ErrStructure, count)
	}
	objs := make(map[int]int, count)
	for i := range count {
		e := xrefEntryRE.FindStringSubmatch(lines[2+i])
		if e == nil {
			return nil, fmt.Errorf("%w: xref entry %q", ErrStructure, lines[2+i])
		}
		if e[3] != "n" {
			continue
		}
		off, _ := strconv.Atoi(e[1])
		want := strconv.Itoa(first+i) + " 0 obj"
		if off >= len(pdf) || !bytes.HasPrefix(pdf[off:], []byte(want)) {
			return nil, fmt.Errorf("%w: xref entry %d points at offset %d, not at %q", ErrStructure, first+i, off, want)
		}
		objs[first+i] = off
	}
	if t := strings.Join(lines[2+count:], "\n"); !strings.HasPrefix(t, "trailer") {
		return nil, fmt.Errorf("%w: no trailer after the xref table", ErrStructure)
	}
	return objs, nil
}

// reader reads the objects of one checked file.
type reader struct {
	pdf   []byte
	objs  map[int]int   // offsets by object number
	cmaps map[int]*cmap // ToUnicode CMaps by font object number
}

// pages returns the object numbers of the pages, in order.
func (r *reader) pages() ([]int, error) {
	trailer := r.pdf[bytes.LastIndex(r.pdf, []byte("trailer")):]
	m := rootRE.FindSubmatch(trailer)
	if m == nil {
		return nil, fmt.Errorf("%w: no /Root in the trailer", ErrStructure)
	}
	catalog, err := r.dict(atoi(m[1]))
	if err != nil {
		return nil, err
	}
	if m = pagesRE.FindSubmatch(catalog); m == nil {
		return nil, fmt.Errorf("%w: no /Pages in the catalog", ErrStructure)
	}
	tree, err := r.dict(atoi(m[1]))
	if err != nil {
		return nil, err
	}
	if m = kidsRE.FindSubmatch(tree); m == nil {
		return nil, fmt.Errorf("%w: no /Kids in the page tree", ErrStructure)
	}
	return refs(m[1]), nil
}

// page returns the strings that the page object n shows.
func (r *reader) page(n int) ([]string, error) {
	d, err := r.dict(n)
	if err != nil {
		return nil, err
	}
	if !pageTypeRE.Match(d) {
		return nil, fmt.Errorf("%w: not a /Type /Page (nested page trees are not read)", ErrStructure)
	}
	fonts := map[string]int{}
	if m := resourcesRE.FindSubmatch(d); m != nil {
		res, err := r.dict(atoi(m[1]))
		if err != nil {
			return nil, err
		}
		if m := fontDictRE.FindSubmatch(res); m != nil {
			for _, f := range fontRefRE.FindAllSubmatch(m[1], -1) {
				fonts[string(f[1])] = atoi(f[2])
			}
		}
	}
	m := contentsRE.FindSubmatch(d)
	if m == nil {
		return nil, nil // an empty page
	}
	var content []byte
	for _, c := range refs(m[1]) {
		data, err := r.stream(c)
		if err != nil {
			return nil, err
		}
		content = append(append(content, data...), '\n')
	}
	return showText(content, func(name string) (*cmap, error) {
		n, ok := fonts[name]
		if !ok {
			return nil, fmt.Errorf("%w: no font /%s in the page's resources", ErrFont, name)
		}
		return r.cmap(n)
	})
}

// object returns object n from after "n 0 obj" to its "endobj" (or the
// end of the file).
func (r *reader) object(n int) ([]byte, error) {
	off, ok := r.objs[n]
	if !ok {
		return nil, fmt.Errorf("%w: object %d is not in the xref table", ErrStructure, n)
	}
	body := r.pdf[off+len(strconv.Itoa(n)+" 0 obj"):]
	if end := bytes.Index(body, []byte("endobj")); end >= 0 {
		body = body[:end]
	}
	return body, nil
}

// dict returns the dictionary of object n: the object up to its stream, if
// any.
func (r *reader) dict(n int) ([]byte, error) {
	body, err := r.object(n)
	if err != nil {
		return nil, err
	}
	if i := bytes.Index(body, []byte("stream")); i >= 0 {
		body = body[:i]
	}
	return body, nil
}

// stream returns the data of the stream object n, inflated.
func (r *reader) stream(n int) ([]byte, error) {
	off, ok := r.objs[n]
	if !ok {
		return nil, fmt.Errorf("%w: object %d is not in the xref table", ErrStructure, n)
	}
	body := r.pdf[off:]
	i := bytes.Index(body, []byte("stream"))
	if end := bytes.Index(body, []byte("endobj")); i < 0 || (end >= 0 && end < i) {
		return nil, fmt.Errorf("%w: object %d is not a stream", ErrStream, n)
	}
	dict, data := body[:i], body[i+len("stream"):]
	switch {
	case bytes.HasPrefix(data, []byte("\r\n")):
		data = data[2:]
	case bytes.HasPrefix(data, []byte("\n")):
		data = data[1:]
	default:
		return nil, fmt.Errorf("%w: object %d: no end of line after \"stream\"", ErrStream, n)
	}
	m := lengthRE.FindSubmatch(dict)
	if m == nil {
		return nil, fmt.Errorf("%w: object %d: a stream without a direct /Length", ErrStream, n)
	}
	length, err := strconv.Atoi(string(m[1]))
	if err != nil || length > len(data) {
		return nil, fmt.Errorf("%w: object %d: /Length %s runs past the end of the file", ErrStream, n, m[1])
	}
	data, rest := data[:length], data[length:]
	if !bytes.HasPrefix(bytes.TrimLeft(rest, "\r\n"), []byte("endstream")) {
		return nil, fmt.Errorf("%w: object %d: no endstream after /Length %d", ErrStream, n, length)
	}
	if !bytes.Contains(dict, []byte("/FlateDecode")) {
		return data, nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: object %d: cannot inflate: %w", ErrStream, n, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxStream+1))
	if err != nil {
		return nil, fmt.Errorf("%w: object %d: cannot inflate: %w", ErrStream, n, err)
	}
	if len(out) > maxStream {
		return nil, fmt.Errorf("%w: object %d inflates to more than %d bytes", ErrStream, n, maxStream)
	}
	return out, nil
}

// cmap returns the ToUnicode CMap of the font object n.
func (r *reader) cmap(n int) (*cmap, error) {
	if c, ok := r.cmaps[n]; ok {
		return c, nil
	}
	d, err := r.dict(n)
	if err != nil {
		return nil, err
	}
	if !type0RE.Match(d) || !identityRE.Match(d) {
		return nil, fmt.Errorf("%w: font object %d is not a Type0 font with the Identity-H encoding", ErrFont, n)
	}
	m := toUnicodeRE.FindSubmatch(d)
	if m == nil {
		return nil, fmt.Errorf("%w: font object %d has no /ToUnicode", ErrFont, n)
	}
	data, err := r.stream(atoi(m[1]))
	if err != nil {
		return nil, err
	}
	c, err := parseCMap(data)
	if err != nil {
		return nil, fmt.Errorf("%w: the ToUnicode CMap of font object %d: %w", ErrFont, n, err)
	}
	r.cmaps[n] = c
	return c, nil
}

// refs returns the object numbers of the references "n g R" in s.
func refs(s []byte) []int {
	var out []int
	for _, m := range refRE.FindAllSubmatch(s, -1) {
		out = append(out, atoi(m[1]))
	}
	return out
}

// atoi converts digits matched by a regular expression; too many digits
// give -1, which names no object.
func atoi(b []byte) int {
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return -1
	}
	return n
}

// cmap maps two-byte codes to text: single codes (bfchar), then ranges
// (bfrange); the first entry for a code wins.
type cmap struct {
	chars  map[uint16]string
	ranges []cmapRange
}

// cmapRange maps the codes lo to hi: to dsts[code-lo] when dsts is set,
// else to dst with its last byte increased by code-lo.
type cmapRange struct {
	lo, hi uint16
	dst    []byte
	dsts   [][]byte
}

// lookup returns the text of code.
func (c *cmap) lookup(code uint16) (string, bool) {
	if s, ok := c.chars[code]; ok {
		return s, true
	}
	for _, rg := range c.ranges {
		if code < rg.lo || code > rg.hi {
			continue
		}
		off := int(code - rg.lo)
		if rg.dsts != nil {
			if off >= len(rg.dsts) {
				return "", false
			}
			return utf16BE(rg.dsts[off]), true
		}
		dst := bytes.Clone(rg.dst)
		dst[len(dst)-1] += byte(off)
		return utf16BE(dst), true
	}
	return "", false
}

// parseCMap reads the bfchar and bfrange sections of a ToUnicode CMap.
func parseCMap(data []byte) (*cmap, error) {
	c := &cmap{chars: map[uint16]string{}}
	lx := lexer{b: data}
	section := ""
	var args []token // operands of the current section
	inArray := false
	var array [][]byte
	for {
		t, ok := lx.next()
		if !ok {
			break
		}
		switch {
		case t.kind == tokOp && (t.text == "beginbfchar" || t.text == "beginbfrange"):
			section, args = t.text, args[:0]
		case t.kind == tokOp && t.text == "endbfchar" && section == "beginbfchar":
			if len(args)%2 != 0 {
				return nil, errors.New("a bfchar entry without a destination")
			}
			for i := 0; i < len(args); i += 2 {
				code, err := srcCode(args[i])
				if err != nil {
					return nil, err
				}
				if args[i+1].kind != tokString || len(args[i+1].str)%2 != 0 {
					return nil, fmt.Errorf("bfchar %04X: the destination is not a UTF-16BE string", code)
				}
				if _, dup := c.chars[code]; !dup {
					c.chars[code] = utf16BE(args[i+1].str)
				}
			}
			section = ""
		case t.kind == tokOp && t.text == "endbfrange" && section == "beginbfrange":
			if len(args)%3 != 0 {
				return nil, errors.New("a bfrange entry without three parts")
			}
			for i := 0; i < len(args); i += 3 {
				lo, err := srcCode(args[i])
				if err != nil {
					return nil, err
				}
				hi, err := srcCode(args[i+1])
				if err != nil {
					return nil, err
				}
				if hi < lo {
					return nil, fmt.Errorf("bfrange %04X-%04X: the end is before the start", lo, hi)
				}
				rg := cmapRange{lo: lo, hi: hi}
				switch dst := args[i+2]; dst.kind {
				case tokString:
					if len(dst.str) == 0 || len(dst.str)%2 != 0 {
						return nil, fmt.Errorf("bfrange %04X-%04X: the destination is not a UTF-16BE string", lo, hi)
					}
					if int(dst.str[len(dst.str)-1])+int(hi-lo) > 0xFF {
						return nil, fmt.Errorf("bfrange %04X-%04X: the destination's last byte overflows", lo, hi)
					}
					rg.dst = dst.str
				case tokArray:
					rg.dsts = dst.array
				default:
					return nil, fmt.Errorf("bfrange %04X-%04X: the destination is neither a string nor an array", lo, hi)
				}
				c.ranges = append(c.ranges, rg)
			}
			section = ""
		case section == "":
			// outside the sections: codespace ranges, names, definitions
		case t.kind == tokArrayOpen:
			inArray, array = true, nil
		case t.kind == tokArrayClose:
			if inArray {
				args = append(args, token{kind: tokArray, array: array})
			}
			inArray = false
		case t.kind == tokString && inArray:
			if len(t.str)%2 != 0 {
				return nil, errors.New("a bfrange destination is not a UTF-16BE string")
			}
			array = append(array, t.str)
		case t.kind == tokString || t.kind == tokNumber:
			args = append(args, t)
		default:
			return nil, fmt.Errorf("unexpected %q in %s", t.text, section)
		}
	}
	if section != "" {
		return nil, fmt.Errorf("no end to %s", section)
	}
	return c, nil
}

// srcCode reads a source code of a CMap: one or two bytes.
func srcCode(t token) (uint16, error) {
	if t.kind != tokString || len(t.str) == 0 || len(t.str) > 2 {
		return 0, fmt.Errorf("a source code %q that is not a string of one or two bytes", t.text)
	}
	if len(t.str) == 1 {
		return uint16(t.str[0]), nil
	}
	return uint16(t.str[0])<<8 | uint16(t.str[1]), nil
}

// utf16BE decodes UTF-16BE; an odd last byte and unpaired surrogates
// become U+FFFD.
func utf16BE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	s := string(utf16.Decode(u))
	if len(b)%2 != 0 {
		s += string(utf8.RuneError)
	}
	return s
}

// showText returns the strings of the Tj and TJ operators (and ' and ") of
// a content stream, decoded with the CMap that font returns for the font
// selected by Tf.
func showText(c []byte, font func(name string) (*cmap, error)) ([]string, error) {
	var out []string
	var pending [][]byte // strings since the last operator
	var name, fontName string
	var cm *cmap
	inArray := false
	lx := lexer{b: c}
	for {
		t, ok := lx.next()
		if !ok {
			return out, nil
		}
		switch t.kind {
		case tokString:
			pending = append(pending, t.str)
		case tokName:
			name = t.text
		case tokArrayOpen:
			inArray, pending = true, pending[:0]
		case tokArrayClose:
			inArray = false
		case tokOp:
			if inArray {
				continue
			}
			switch t.text {
			case "Tf":
				if name == "" {
					return nil, fmt.Errorf("%w: Tf without a font name", ErrFont)
				}
				f, err := font(name)
				if err != nil {
					return nil, err
				}
				cm, fontName = f, name
			case "Tj", "TJ", "'", "\"":
				if len(pending) == 0 {
					break
				}
				if cm == nil {
					return nil, fmt.Errorf("%w: text shown with %s before a font is selected", ErrFont, t.text)
				}
				var sb strings.Builder
				for _, s := range pending {
					if len(s)%2 != 0 {
						return nil, fmt.Errorf("%w: a string of %d bytes in font /%s, whose codes take two", ErrFont, len(s), fontName)
					}
					for i := 0; i < len(s); i += 2 {
						code := uint16(s[i])<<8 | uint16(s[i+1])
						text, ok := cm.lookup(code)
						if !ok {
							return nil, fmt.Errorf("%w: glyph %04X of font /%s is not in its ToUnicode CMap", ErrFont, code, fontName)
						}
						sb.WriteString(text)
					}
				}
				out = append(out, sb.String())
			}
			pending, name = pending[:0], ""
		}
	}
}

// tokenKind is the kind of a token of a content stream or CMap.
type tokenKind int

const (
	tokNumber tokenKind = iota
	tokName
	tokString // literal or hexadecimal: the bytes in str
	tokArrayOpen
	tokArrayClose
	tokArray // made by parseCMap: the strings in array
	tokOp    // an operator, or a keyword such as true or def
)

type token struct {
	kind  tokenKind
	text  string // the source, without a name's slash
	str   []byte
	array [][]byte
}

// lexer splits PDF content into tokens. Dictionary brackets are skipped.
type lexer struct {
	b []byte
	i int
}

// next returns the next token, or false at the end.
func (l *lexer) next() (token, bool) {
	for l.i < len(l.b) {
		ch := l.b[l.i]
		switch {
		case isSpace(ch):
			l.i++
		case ch == '%':
			for l.i < len(l.b) && l.b[l.i] != '\n' && l.b[l.i] != '\r' {
				l.i++
			}
		case ch == '(':
			s, n := literal(l.b[l.i:])
			l.i += n
			return token{kind: tokString, text: "(...)", str: s}, true
		case ch == '<' && l.i+1 < len(l.b) && l.b[l.i+1] == '<', ch == '>' && l.i+1 < len(l.b) && l.b[l.i+1] == '>':
			l.i += 2
		case ch == '<':
			end := bytes.IndexByte(l.b[l.i:], '>')
			if end < 0 {
				end = len(l.b) - l.i
			}
			src := l.b[l.i : l.i+end]
			l.i += end + 1
			return token{kind: tokString, text: string(src) + ">", str: hexString(src[1:])}, true
		case ch == '[':
			l.i++
			return token{kind: tokArrayOpen, text: "["}, true
		case ch == ']':
			l.i++
			return token{kind: tokArrayClose, text: "]"}, true
		case ch == '/':
			j := l.i + 1
			for j < len(l.b) && !isSpace(l.b[j]) && !isDelim(l.b[j]) {
				j++
			}
			t := token{kind: tokName, text: string(l.b[l.i+1 : j])}
			l.i = j
			return t, true
		default:
			j := l.i
			for j < len(l.b) && !isSpace(l.b[j]) && !isDelim(l.b[j]) {
				j++
			}
			if j == l.i {
				j++ // a stray delimiter: ')', '>', '{' or '}'
			}
			t := token{kind: tokOp, text: string(l.b[l.i:j])}
			l.i = j
			if _, err := strconv.ParseFloat(t.text, 64); err == nil {
				t.kind = tokNumber
			}
			return t, true
		}
	}
	return token{}, false
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\n' || b == '\r' || b == '\t' || b == '\f' || b == 0
}

func isDelim(b byte) bool {
	return strings.IndexByte("()<>[]{}/%", b) >= 0
}

// hexString decodes the digits of a hexadecimal string, ignoring white
// space and anything else that is not a digit; an odd last digit is
// followed by 0.
func hexString(src []byte) []byte {
	var out []byte
	var hi byte
	half := false
	for _, c := range src {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			continue
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		out = append(out, hi<<4)
	}
	return out
}

// literal decodes the PDF literal string at the start of c ("(...)", with
// balanced parentheses and backslash escapes) and returns its bytes with
// the number of bytes it took.
func literal(c []byte) ([]byte, int) {
	var b []byte
	depth := 0
	i := 0
	for i < len(c) {
		ch := c[i]
		i++
		switch ch {
		case '(':
			depth++
			if depth == 1 {
				continue
			}
		case ')':
			depth--
			if depth == 0 {
				return b, i
			}
		case '\\':
			if i >= len(c) {
				break
			}
			e := c[i]
			i++
			switch e {
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case '\n':
				// a line continuation
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for k := 0; k < 2 && i < len(c) && c[i] >= '0' && c[i] <= '7'; k++ {
					v = v*8 + int(c[i]-'0')
					i++
				}
				b = append(b, byte(v))
			default:
				b = append(b, e)
			}
			continue
		}
		b = append(b, ch)
	}
	return b, i
}
