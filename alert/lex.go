package alert

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tEnd tokenKind = iota
	tIdent
	tNumber
	tCmp  // > < >= <= ==
	tJoin // && ||
	tOpen
	tClose
)

// token is one lexeme of a condition; col is its 1-based column in
// characters.
type token struct {
	kind tokenKind
	text string
	col  int
}

// shown names a token in an error message.
func (t token) shown() string {
	if t.kind == tEnd {
		return "the end of the condition"
	}
	return strconv.Quote(t.text)
}

// lex splits s into tokens, ending with tEnd.
func lex(s string) ([]token, error) {
	var out []token
	col := 1
	for i := 0; i < len(s); {
		c := s[i]
		start, startCol := i, col
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isLetter(c):
			for i < len(s) && (isLetter(s[i]) || isDigit(s[i])) {
				i++
			}
			out = append(out, token{tIdent, s[start:i], startCol})
		case isDigit(c) || c == '.' || c == '-':
			i++
			for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
				i++
			}
			text := s[start:i]
			if _, err := strconv.ParseFloat(text, 64); err != nil && !isRange(err) {
				return nil, &SyntaxError{Col: startCol, Msg: fmt.Sprintf("%q is not a number", text)}
			}
			out = append(out, token{tNumber, text, startCol})
		case c == '>' || c == '<':
			i++
			if i < len(s) && s[i] == '=' {
				i++
			}
			out = append(out, token{tCmp, s[start:i], startCol})
		case c == '=':
			if i+1 < len(s) && s[i+1] == '=' {
				i += 2
				out = append(out, token{tCmp, "==", startCol})
				break
			}
			return nil, &SyntaxError{Col: startCol, Msg: `"=" is not an operator; use "=="`}
		case c == '&' || c == '|':
			if i+1 < len(s) && s[i+1] == c {
				i += 2
				out = append(out, token{tJoin, s[start:i], startCol})
				break
			}
			return nil, &SyntaxError{Col: startCol, Msg: fmt.Sprintf("%q is not an operator; use %q", string(c), string([]byte{c, c}))}
		case c == '(':
			i++
			out = append(out, token{tOpen, "(", startCol})
		case c == ')':
			i++
			out = append(out, token{tClose, ")", startCol})
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, &SyntaxError{Col: startCol, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
		col += utf8.RuneCountInString(s[start:i])
	}
	return append(out, token{tEnd, "", col}), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
