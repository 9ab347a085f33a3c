package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// maxDepth bounds the nesting of a config document; the real schema is five levels deep.
const maxDepth = 32

// parse turns the bytes of a config file into a validated Config; name prefixes every error.
func parse(name string, data []byte, getenv func(string) string) (*Config, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, lineError(name, err, nil)
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", name, line(doc.Body.GetToken()))
		}
		body = doc.Body
	}
	c := Default(getenv)
	if body != nil {
		p := prepare{getenv: orEmpty(getenv), paths: map[*token.Token]string{}}
		if body, err = p.node(body, "", 0); err != nil {
			return nil, fmt.Errorf("%s:%w", name, err)
		}
		if err := nodeToValue(body, c); err != nil {
			var lib libraryPanic
			if errors.As(err, &lib) {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return nil, lineError(name, err, p.paths)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// prepare rewrites the parsed document before decoding: it expands ${VAR} in string values,
// turns durations with a day unit into Go durations, and records the key path of every value
// token so that decoding errors can name the key.
type prepare struct {
	getenv func(string) string
	paths  map[*token.Token]string
}

// node prepares n, found at path, and returns the node to decode in its place. Its errors start
// with the line number ("7: flush_interval: ...").
func (p *prepare) node(n ast.Node, path string, depth int) (ast.Node, error) {
	if n == nil {
		return nil, nil
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("%d: %s: nested too deeply", line(n.GetToken()), path)
	}
	if tk := n.GetToken(); tk != nil {
		p.paths[tk] = path
	}
	var err error
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			if err := p.pair(mv, path, depth); err != nil {
				return nil, err
			}
		}
	case *ast.MappingValueNode:
		err = p.pair(n, path, depth)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			if n.Values[i], err = p.node(v, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return nil, err
			}
		}
	case *ast.AnchorNode:
		n.Value, err = p.node(n.Value, path, depth+1)
	case *ast.TagNode:
		n.Value, err = p.node(n.Value, path, depth+1)
	case *ast.LiteralNode:
		err = p.expand(n.Value, path)
	case *ast.StringNode:
		if err = p.expand(n, path); err != nil {
			return nil, err
		}
		// An unquoted ${VAR} that expands to true or false is a YAML bool, as if written so.
		if n.Token.Type == token.StringType && (n.Value == "true" || n.Value == "false") && n.Value != n.Token.Value {
			tk := *n.Token
			tk.Type, tk.Value = token.BoolType, n.Value
			p.paths[&tk] = path
			return ast.Bool(&tk), nil
		}
	}
	if err != nil {
		return nil, err
	}
	if isDurationKey(path) {
		return p.duration(n, path)
	}
	return n, nil
}

// pair prepares one key: value pair of a mapping at path.
func (p *prepare) pair(mv *ast.MappingValueNode, path string, depth int) error {
	key := ""
	if mv.Key != nil && mv.Key.GetToken() != nil {
		key = mv.Key.GetToken().Value
		p.paths[mv.Key.GetToken()] = path
	}
	if path != "" {
		key = path + "." + key
	}
	v, err := p.node(mv.Value, key, depth+1)
	if err != nil {
		return err
	}
	mv.Value = v
	return nil
}

// expand replaces the ${VAR} references of s in place.
func (p *prepare) expand(s *ast.StringNode, path string) error {
	if s == nil || !strings.Contains(s.Value, "${") {
		return nil
	}
	v, err := expandEnv(s.Value, p.getenv)
	if err != nil && isSecret(path) {
		return fmt.Errorf("%d: %s: bad ${VAR} reference", line(s.Token), path)
	}
	if err != nil {
		return fmt.Errorf("%d: %s: %w", line(s.Token), path, err)
	}
	s.Value = v
	return nil
}

// duration replaces the scalar n at path by a string node holding a Go duration.
func (p *prepare) duration(n ast.Node, path string) (ast.Node, error) {
	var s string
	switch n := n.(type) {
	case *ast.StringNode:
		s = n.Value
	case *ast.IntegerNode, *ast.FloatNode:
		s = n.GetToken().Value
	default:
		return n, nil // null keeps zero, anything else is left to the decoder's type check
	}
	d, err := parseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%d: %s: %q is not a duration (like 90s, 1h30m or 30d)", line(n.GetToken()), path, s)
	}
	tk := *n.GetToken()
	tk.Type, tk.Value = token.StringType, d.String()
	p.paths[&tk] = path
	return ast.String(&tk), nil
}

// isDurationKey reports whether the value at path is a time.Duration of Config.
func isDurationKey(path string) bool {
	switch path {
	case "flush_interval", "log_retention", "upstream_timeout", "upstream_connect_timeout", "shutdown_timeout":
		return true
	}
	return false
}

// parseDuration parses a Go duration that may also use "d" (24h) as a unit: "30d", "1d12h",
// "1.5d", "-2d".
func parseDuration(s string) (time.Duration, error) {
	if !strings.Contains(s, "d") {
		return time.ParseDuration(s)
	}
	var b strings.Builder
	rest := s
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		b.WriteByte(rest[0])
		rest = rest[1:]
	}
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		num := rest[:i]
		j := strings.IndexFunc(rest[i:], func(r rune) bool { return (r >= '0' && r <= '9') || r == '.' })
		if j < 0 {
			j = len(rest) - i
		}
		unit := rest[i : i+j]
		rest = rest[i+j:]
		if unit != "d" {
			b.WriteString(num + unit)
			continue
		}
		days, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		b.WriteString(strconv.FormatFloat(days*24, 'f', -1, 64) + "h")
	}
	d, err := time.ParseDuration(b.String())
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// expandEnv replaces ${VAR} and ${VAR:-default} in s with getenv's values; the default is used
// when the variable is unset or empty. "$${" is a literal "${". Any other "$" is kept as is.
func expandEnv(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s[i:])
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !isEnvName(name) {
			return "", fmt.Errorf("bad variable name in ${%s}", controlEscaper.Replace(ref))
		}
		v := getenv(name)
		if v == "" && hasDef {
			v = def
		}
		b.WriteString(v)
	}
}

// isEnvName reports whether s is a valid environment variable name: [A-Za-z_][A-Za-z0-9_]*.
func isEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// lineError turns an error of go-yaml (several lines, with a source excerpt) into one line:
// "name:LINE: key: what is wrong". paths maps value tokens to their key paths.
func lineError(name string, err error, paths map[*token.Token]string) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return fmt.Errorf("%s: cannot decode config: %s", name, firstLine(err.Error()))
	}
	tk := ye.GetToken()
	path := paths[tk]
	msg := firstLine(ye.GetMessage())
	var (
		te *yaml.TypeError
		oe *yaml.OverflowError
		ue *yaml.UnknownFieldError
		ne *yaml.UnexpectedNodeTypeError
	)
	switch {
	case errors.As(err, &ue):
		msg = strings.Replace(msg, "unknown field", "unknown key", 1)
	case errors.As(err, &te) && tk != nil:
		msg = fmt.Sprintf("%s is not %s", describe(tk, te.SrcType, path), kindName(te.DstType))
	case errors.As(err, &oe) && tk != nil:
		msg = fmt.Sprintf("%s is out of range for %s", describe(tk, nil, path), kindName(oe.DstType))
	case errors.As(err, &ne):
		msg = fmt.Sprintf("%s is not %s", article(ne.Actual.YAMLName()), article(ne.Expected.YAMLName()))
	}
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", name, line(tk), msg)
}

// describe names the value of tk, of Go type src when known: its kind for a list or mapping,
// else its text quoted unless the key at path holds a secret.
func describe(tk *token.Token, src reflect.Type, path string) string {
	if src != nil && (src.Kind() == reflect.Slice || src.Kind() == reflect.Map) {
		return article(kindName(src)[2:])
	}
	if isSecret(path) {
		return "the value"
	}
	return strconv.Quote(tk.Value)
}

// isSecret reports whether the key at path holds a secret, whose value no error may show.
func isSecret(path string) bool {
	return strings.HasSuffix(path, "api_key") || strings.HasSuffix(path, "password")
}

// kindName names the YAML value a Go type expects.
func kindName(t reflect.Type) string {
	if t == nil {
		return "of the right type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a sequence"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return "a " + t.String()
}

// article prefixes a YAML node type name with "a" or "an".
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// line returns the 1-based line of tk, or 0 when unknown.
func line(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// libraryPanic is a panic of the YAML library turned into an error.
type libraryPanic struct{ v any }

func (l libraryPanic) Error() string {
	return fmt.Sprintf("cannot decode this YAML (the YAML library failed: %v); look for a tag (!...) or an anchor without a value", l.v)
}

// nodeToValue decodes body into c. The YAML library panics on some
// malformed documents (a bare tag as a value, found by FuzzParse): the panic
// becomes an error, so a bad config never crashes the process.
func nodeToValue(body ast.Node, c *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = libraryPanic{v: r}
		}
	}()
	return yaml.NodeToValue(body, c, yaml.DisallowUnknownField())
}

// controlEscaper writes control characters of user text as escapes, so an
// error message stays on one line.
var controlEscaper = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`, "\v", `\v`, "\f", `\f`)
