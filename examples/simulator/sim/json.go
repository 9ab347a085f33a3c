package sim

import "strconv"

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal.
func appendString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendWords appends n words of the lorem text separated by spaces
// (no quoting needed: the words are plain ASCII letters).
func (s *Server) appendWords(b []byte, n int) []byte {
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s.words[i%len(s.words)]...)
	}
	return b
}

// appendWord appends the text of content chunk i (0-based): its word, with
// a leading space after the first.
func (s *Server) appendWord(b []byte, i int) []byte {
	if i > 0 {
		b = append(b, ' ')
	}
	return append(b, s.words[i%len(s.words)]...)
}

func appendFloat32(b []byte, f float32) []byte {
	return strconv.AppendFloat(b, float64(f), 'f', -1, 32)
}
