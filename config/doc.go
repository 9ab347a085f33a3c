// Package config turns the infermeter YAML file into a validated Config.
//
// Loading is parse → expand → decode → validate:
//
//   - The file is parsed with github.com/goccy/go-yaml and decoded strictly: an unknown key,
//     a wrong type or a malformed document is an error naming the file, the line and the key.
//   - ${VAR} and ${VAR:-default} in string values are expanded from the getenv function the
//     caller passes (os.Getenv in main, a map in tests). An unset or empty variable expands to
//     "" (or to its default). Expansion happens on the parsed values, so a value containing
//     '#', ": ", quotes or newlines cannot change the structure of the document. "$${" stands
//     for a literal "${". Keys are never expanded. In a flow mapping ({a: ${X}}) quote the
//     reference: "${X}".
//   - Absent keys keep the defaults of Default; a file's upstreams list replaces the default
//     list as a whole.
//   - Validate reports the first problem as one line naming the key path, for example
//     `upstreams[1].dialect: "opanai" is not one of openai, anthropic, gemini`. Secrets (API
//     keys, passwords) never appear in an error.
//
// Durations are Go durations ("90s", "1h30m") plus a "d" suffix for days ("30d", "1d12h").
// Money is float64 USD in the file; USDToNano converts it to the integer nano-dollars used
// everywhere else.
//
// A Config is not modified after Load returns it and is safe for concurrent reads. The package
// embeds the time zone database (time/tzdata) so that time zones load in minimal containers.
package config
