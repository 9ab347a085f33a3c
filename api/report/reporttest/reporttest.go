// Package reporttest reads back the PDFs that package report writes, so
// tests can check what a document shows. It understands the subset of PDF
// that report writes (a classic cross-reference table, plain or FlateDecode
// content streams with direct lengths, text shown with Tj and TJ in a
// WinAnsi core font); it is not a general PDF reader.
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
)

// Sentinel errors of Text; match them with errors.Is.
var (
	// ErrStructure is wrapped when the file is not a whole PDF: a missing
	// header or %%EOF, or a cross-reference table that does not point at
	// its objects.
	ErrStructure = errors.New("malformed PDF structure")
	// ErrStream is wrapped when a content stream cannot be read.
	ErrStream = errors.New("unreadable PDF stream")
)

var (
	startXRefRE = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	xrefEntryRE = regexp.MustCompile(`^(\d{10}) (\d{5}) ([nf])\s*$`)
	lengthRE    = regexp.MustCompile(`/Length (\d+)`)
)

// Text checks the structure of pdf and returns the strings it shows, in
// drawing order, as UTF-8: one entry per Tj, or per TJ with its parts
// joined. Streams that show no text (such as metadata) add nothing.
func Text(pdf []byte) ([]string, error) {
	if err := checkStructure(pdf); err != nil {
		return nil, err
	}
	var out []string
	rest := pdf
	for {
		i := bytes.Index(rest, []byte("\nstream\n"))
		if i < 0 {
			return out, nil
		}
		dictStart := bytes.LastIndex(rest[:i], []byte(" obj\n"))
		if dictStart < 0 {
			return nil, fmt.Errorf("%w: a stream outside an object", ErrStream)
		}
		dict := rest[dictStart:i]
		m := lengthRE.FindSubmatch(dict)
		if m == nil {
			return nil, fmt.Errorf("%w: a stream without a direct /Length", ErrStream)
		}
		n, _ := strconv.Atoi(string(m[1]))
		data := rest[i+len("\nstream\n"):]
		if n > len(data) {
			return nil, fmt.Errorf("%w: /Length %d runs past the end of the file", ErrStream, n)
		}
		data, rest = data[:n], data[n:]
		if !bytes.HasPrefix(bytes.TrimLeft(rest, "\r\n"), []byte("endstream")) {
			return nil, fmt.Errorf("%w: no endstream after /Length %d", ErrStream, n)
		}
		if bytes.Contains(dict, []byte("/FlateDecode")) {
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("%w: cannot inflate: %w", ErrStream, err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				return nil, fmt.Errorf("%w: cannot inflate: %w", ErrStream, err)
			}
		}
		if bytes.Contains(dict, []byte("/Subtype /XML")) {
			continue
		}
		out = append(out, showText(data)...)
	}
}

// checkStructure checks the header, the trailer and that every in-use
// entry of the cross-reference table points at "N 0 obj".
func checkStructure(pdf []byte) error {
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.")) {
		return fmt.Errorf("%w: no %%PDF-1.x header", ErrStructure)
	}
	m := startXRefRE.FindSubmatch(pdf)
	if m == nil {
		return fmt.Errorf("%w: no startxref and %%%%EOF at the end (truncated?)", ErrStructure)
	}
	at, err := strconv.Atoi(string(m[1]))
	if err != nil || at >= len(pdf) || !bytes.HasPrefix(pdf[at:], []byte("xref\n")) {
		return fmt.Errorf("%w: startxref %s does not point at the xref table", ErrStructure, m[1])
	}
	lines := strings.Split(string(pdf[at:]), "\n")
	if len(lines) < 3 {
		return fmt.Errorf("%w: a short xref table", ErrStructure)
	}
	var first, count int
	if _, err := fmt.Sscanf(lines[1], "%d %d", &first, &count); err != nil {
		return fmt.Errorf("%w: xref subsection %q: %w", ErrStructure, lines[1], err)
	}
	if count < 2 || len(lines) < 2+count {
		return fmt.Errorf("%w: xref table of %d entries", ErrStructure, count)
	}
	for i := range count {
		e := xrefEntryRE.FindStringSubmatch(lines[2+i])
		if e == nil {
			return fmt.Errorf("%w: xref entry %q", ErrStructure, lines[2+i])
		}
		if e[3] != "n" {
			continue
		}
		off, _ := strconv.Atoi(e[1])
		want := strconv.Itoa(first+i) + " 0 obj"
		if off >= len(pdf) || !bytes.HasPrefix(pdf[off:], []byte(want)) {
			return fmt.Errorf("%w: xref entry %d points at offset %d, not at %q", ErrStructure, first+i, off, want)
		}
	}
	return nil
}

// showText returns the strings of the Tj and TJ operators of a content
// stream.
func showText(c []byte) []string {
	var out []string
	var pending []string // strings since the last operator
	inArray := false
	for i := 0; i < len(c); {
		switch ch := c[i]; {
		case ch == '(':
			s, n := literal(c[i:])
			pending = append(pending, s)
			i += n
		case ch == '[':
			inArray, pending = true, pending[:0]
			i++
		case ch == ']':
			inArray = false
			i++
		case ch == '%':
			for i < len(c) && c[i] != '\n' && c[i] != '\r' {
				i++
			}
		case isSpace(ch):
			i++
		default:
			j := i
			for j < len(c) && !isSpace(c[j]) && !strings.ContainsRune("()[]<>/%", rune(c[j])) {
				j++
			}
			if j == i {
				j++ // a delimiter this reader skips (names, hex strings)
			}
			op := string(c[i:j])
			i = j
			if inArray || isOperand(op) {
				continue
			}
			if (op == "Tj" || op == "TJ") && len(pending) > 0 {
				out = append(out, strings.Join(pending, ""))
			}
			pending = pending[:0]
		}
	}
	return out
}

// isOperand tells numbers (and booleans) from operators.
func isOperand(tok string) bool {
	if tok == "true" || tok == "false" {
		return true
	}
	_, err := strconv.ParseFloat(tok, 64)
	return err == nil
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\n' || b == '\r' || b == '\t' || b == '\f' || b == 0
}

// literal decodes the PDF literal string at the start of c ("(...)", with
// balanced parentheses and backslash escapes) from WinAnsi to UTF-8, and
// returns it with the number of bytes it took.
func literal(c []byte) (string, int) {
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
				return winAnsi(b), i
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
	return winAnsi(b), i
}

// winAnsi80 maps the bytes 0x80..0x9f of Windows-1252 to Unicode (0 where
// the code page defines none).
var winAnsi80 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

func winAnsi(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c >= 0x80 && c <= 0x9f && winAnsi80[c-0x80] != 0:
			sb.WriteRune(winAnsi80[c-0x80])
		default:
			sb.WriteRune(rune(c)) // ASCII and Latin-1 are Unicode's first 256
		}
	}
	return sb.String()
}
