// Package store is the durable store of infermeter, on buntdb: hourly rollup
// cells (kept forever, so totals stay exact), request logs in a compact
// binary encoding (bounded by a retention and a count, oldest evicted
// first) and a small key/value state for the rest of the product. It is the
// only importer of buntdb.
//
// Promises:
//   - One writer, batched: the meter's writer goroutine calls Apply every
//     flush interval with the cells that changed and the new events. Each
//     Apply is one atomic commit; logs and rollups never disagree, even
//     after a crash in the middle of a commit.
//     ApplyWithState adds state values to the same commit (the fleet
//     consumer's per-origin marks).
//   - Follow reads the logs of every org in ID order after a cursor (the
//     fleet publisher); evicting logs above the follower's cursor is
//     counted (SetFollowed, TakeUnfollowedEvictions).
//   - A killed process loses only what was not yet handed to Apply. By
//     default each commit is fsynced before Apply returns.
//   - The file always reopens: a torn last write is dropped and the last
//     batch completed from the journal; a file damaged elsewhere is refused
//     with an error that names it and says what to do, and so is a value
//     whose checksum fails (a byte changed inside it, schema 2).
//   - Readers (Logs, Log, LoadCells, the state methods) run concurrently
//     with the writer and see each commit entirely or not at all.
//
// # Key schema
//
// buntdb keeps every key and value in memory, so keys are binary and short
// and request logs are packed many to a value. Integers in keys are big
// endian, so byte order is numeric order. "id" below is a 4-byte dictionary
// id.
//
//	v                              schema version: "2" (every other value ends with a
//	                               4-byte CRC-32C of its key and itself, see seal.go)
//	                               or "1" (stores written before the seals: read as is)
//	j                              journal: the last multi-key batch, replayed at open
//	d <id>                         dictionary: id -> string (org, user, model,
//	                               department, billing mode, upstream, tag set);
//	                               ids are dense from 1, id 0 is "" and not stored
//	c <org> <hour^1<<63> <user> <model> <department> <billing mode> <tags> <category byte> <error type byte>
//	                               one hourly cell (meter.Cell as varints); ordered by org,
//	                               then hour (the sign bit flipped so negative hours sort first);
//	                               keys written before the error type byte existed are read
//	                               as error type none
//	l <org> <first event ID, 8 bytes>
//	                               a block of up to 64 request logs (4 KiB) of one org in
//	                               ascending ID order, see codec.go; ordered by org, then
//	                               time, so a page of logs is a reverse scan of one org
//	b <org> <event ID, 8 bytes>    the captured headers and bodies of one request log
//	                               (capture_bodies; see capture.go), written and
//	                               deleted in the same transaction as its log
//	s <key>                        state value of key (raw bytes, any key)
//
// There is no secondary index on logs: filters (user, model, status, error
// type, department, tag) run on the dictionary ids of decoded records, which
// allocates nothing for records that do not match.
//
// # Atomicity
//
// buntdb writes a transaction as one append but in map order, and on load
// keeps every complete command before a torn one. So every multi-key batch
// is first written whole as the value of j (one command: loaded entirely or
// not at all), then applied. Open replays j; its writes are absolute sets and
// deletes and every multi-key write goes through it, so replaying the last
// one is idempotent. Single-key state writes need no journal.
//
// buntdb also takes any command that runs past the end of the file for a
// torn write and truncates there, which would silently drop everything after
// a damaged length in the middle of the file. Open therefore scans the file
// first (check.go) and lets buntdb drop only a single torn last command; any
// other damage is refused with the offset up to which the file is intact.
package store
