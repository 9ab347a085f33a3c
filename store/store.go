package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/buntdb"
)

// FileName is the name of the store file inside the data directory.
const FileName = "infermeter.db"

// Errors of the store; match them with errors.Is.
var (
	// ErrBadCursor is wrapped by Logs when the cursor was not made by Logs.
	ErrBadCursor = errors.New("bad cursor")
	// ErrBadQuery is wrapped by Logs when a filter value is outside its
	// vocabulary (an unknown status or error type).
	ErrBadQuery = errors.New("bad log query")
	// ErrCorrupt is wrapped by Open when the file is not a store or is
	// damaged before its end, and by reads that meet a malformed value.
	ErrCorrupt = errors.New("corrupt store")
	// ErrClosed is wrapped by every method called after Close.
	ErrClosed = errors.New("store is closed")
)

// errCodec is wrapped by every decoding error.
var errCodec = fmt.Errorf("%w: malformed value", ErrCorrupt)

// Options tunes a Store. The zero value keeps every log forever.
type Options struct {
	// MaxLogs is the most request logs kept; Apply evicts the oldest beyond
	// it. 0 means no limit.
	MaxLogs int
	// LogRetention is how long EvictExpired keeps a request log, by its
	// Event.Time. 0 means forever.
	LogRetention time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// NoSync skips the fsync after each commit. A killed process still
	// loses nothing that was committed (the data is in the OS page cache);
	// a power loss may lose about the last second. Meant for tests and
	// benchmarks.
	NoSync bool

	// legacySchema makes a new store of schema version 1, without seals
	// (tests of the stores written before version 2).
	legacySchema bool
}

// Store is the durable store of one infermeter process: hourly rollup cells
// (kept forever), request logs (bounded by Options) and small state values.
//
// A Store is safe for concurrent use. Writes of request logs and cells (Apply,
// EvictExpired) are serialised and meant to come from one writer goroutine in
// batches; reads (Logs, Log, GetState, ...) run concurrently with them and
// see each Apply entirely or not at all.
type Store struct {
	db   *buntdb.DB
	path string
	opt  Options
	dict *dict
	// total is the number of stored request logs.
	total atomic.Int64

	// wmu serialises the writers and guards the fields below.
	wmu  sync.Mutex
	orgs map[uint32]*orgLogs
	recs []rec
	buf  []byte
	// hasCaptures: a capture was stored (at some point), so evicting a
	// whole log block must look for the captures of its logs.
	hasCaptures bool
	// follow counts evictions of logs a follower has not reached.
	follow followState
	// sealed: the store's schema version is 2, its values are sealed.
	sealed bool
}

// orgLogs indexes the log blocks of one org, oldest first.
type orgLogs struct {
	blocks []blockInfo
}

type blockInfo struct {
	first, last uint64
	count       int
}

// Open opens (creating it when needed) the store in dir, file FileName. A
// file whose last write was torn by a crash is repaired: the torn tail is
// dropped and the last batch is completed from the journal. A file damaged
// elsewhere is refused with an error wrapping ErrCorrupt that names it.
func Open(dir string, opt Options) (*Store, error) {
	if opt.MaxLogs < 0 {
		return nil, fmt.Errorf("cannot open store in %q: max_logs is negative (%d)", dir, opt.MaxLogs)
	}
	if opt.LogRetention < 0 {
		return nil, fmt.Errorf("cannot open store in %q: log_retention is negative (%s)", dir, opt.LogRetention)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create store directory %q: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("cannot open store %q: it is a directory", path)
	}
	if err := checkFile(path); err != nil {
		var fd *fileDamage
		if errors.As(err, &fd) {
			return nil, corruptError(path, err)
		}
		return nil, fmt.Errorf("cannot read store %q: %w", path, err)
	}
	db, err := buntdb.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot open store %q: %w", path, err)
		}
		return nil, corruptError(path, err)
	}
	cfg := buntdb.Config{
		SyncPolicy:           buntdb.Always,
		AutoShrinkPercentage: 100,
		AutoShrinkMinSize:    32 << 20,
	}
	if opt.NoSync {
		cfg.SyncPolicy = buntdb.EverySecond
	}
	if err := db.SetConfig(cfg); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot configure store %q: %w", path, err)
	}
	s := &Store{db: db, path: path, opt: opt, dict: newDict(), orgs: make(map[uint32]*orgLogs)}
	if err := s.load(); err != nil {
		_ = db.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, corruptError(path, err)
		}
		return nil, fmt.Errorf("cannot load store %q: %w", path, err)
	}
	return s, nil
}

func corruptError(path string, err error) error {
	if !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return fmt.Errorf("cannot open store %q: %w; the file is not an infermeter store or is damaged "+
		"before its end: move it aside to start with an empty store, or restore it from a backup", path, err)
}

// load checks the schema version, replays the journal and rebuilds the
// dictionary and the log index.
func (s *Store) load() error {
	var version string
	var n int
	err := s.db.View(func(tx *buntdb.Tx) error {
		var err error
		if n, err = tx.Len(); err != nil {
			return err
		}
		version, err = tx.Get(keyVersion)
		return err
	})
	switch {
	case errors.Is(err, buntdb.ErrNotFound) && n == 0:
		version = schemaVersion
		if s.opt.legacySchema {
			version = schemaV1
		}
		if err := s.db.Update(func(tx *buntdb.Tx) error {
			_, _, err := tx.Set(keyVersion, version, nil)
			return err
		}); err != nil {
			return err
		}
	case errors.Is(err, buntdb.ErrNotFound):
		return fmt.Errorf("%w: %d keys but no schema version", ErrCorrupt, n)
	case err != nil:
		return err
	case version != schemaVersion && version != schemaV1:
		return fmt.Errorf("%w: schema version %q, this build reads %q and %q", ErrCorrupt, version, schemaV1, schemaVersion)
	}
	s.sealed = version == schemaVersion
	if err := s.replayJournal(); err != nil {
		return fmt.Errorf("cannot replay journal: %w", err)
	}
	return s.db.View(func(tx *buntdb.Tx) error {
		var ierr error
		if s.sealed {
			// Every value's seal, once: readers then only strip them.
			err := tx.Ascend("", func(k, v string) bool {
				if k != keyVersion {
					_, ierr = s.unseal(k, v)
				}
				return ierr == nil
			})
			if err != nil || ierr != nil {
				return errors.Join(err, ierr)
			}
		}
		err := tx.AscendRange("", string(rune(prefixDict)), string(rune(prefixDict+1)), func(k, v string) bool {
			if len(k) != dictKeyLen {
				ierr = fmt.Errorf("%w: bad dictionary key length %d", errCodec, len(k))
				return false
			}
			ierr = s.dict.add(be32(k, 1), s.strip(v))
			return ierr == nil
		})
		if err != nil || ierr != nil {
			return errors.Join(err, ierr)
		}
		err = tx.AscendRange("", string(rune(prefixLog)), string(rune(prefixLog+1)), func(k, v string) bool {
			org, first, ok := parseLogKey(k)
			if !ok {
				ierr = fmt.Errorf("%w: bad log key length %d", errCodec, len(k))
				return false
			}
			h, err := readBlockHeader(first, s.strip(v))
			if err != nil {
				ierr = err
				return false
			}
			ol := s.orgs[org]
			if ol == nil {
				ol = &orgLogs{}
				s.orgs[org] = ol
			}
			ol.blocks = append(ol.blocks, blockInfo{first: first, last: h.last, count: h.count})
			s.total.Add(int64(h.count))
			return true
		})
		if err != nil || ierr != nil {
			return errors.Join(err, ierr)
		}
		return tx.AscendRange("", string(rune(prefixCapture)), string(rune(prefixCapture+1)), func(string, string) bool {
			s.hasCaptures = true
			return false
		})
	})
}

// Close flushes and closes the store file. It waits for a running Apply.
// Every later call fails with ErrClosed.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cannot close store %q: %w", s.path, mapErr(err))
	}
	return nil
}

// Path returns the path of the store file.
func (s *Store) Path() string { return s.path }

// LogCount returns the number of request logs stored. It never blocks.
func (s *Store) LogCount() int { return int(s.total.Load()) }

// PutState stores value under key in the small key/value state (members
// created at run time, alert rules, schedules, invoices...). The value is
// copied. State keys are apart from logs and cells: any string is a key.
func (s *Store) PutState(key string, value []byte) error {
	err := s.db.Update(func(tx *buntdb.Tx) error {
		k := stateKey(key)
		_, _, err := tx.Set(k, s.seal(k, string(value)), nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot put state %q: %w", key, mapErr(err))
	}
	return nil
}

// GetState returns a copy of the state value of key, and whether it exists.
func (s *Store) GetState(key string) ([]byte, bool, error) {
	var v string
	err := s.db.View(func(tx *buntdb.Tx) error {
		var err error
		v, err = tx.Get(stateKey(key))
		return err
	})
	if errors.Is(err, buntdb.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot get state %q: %w", key, mapErr(err))
	}
	return []byte(s.strip(v)), true, nil
}

// DeleteState removes the state value of key; a missing key is not an error.
func (s *Store) DeleteState(key string) error {
	err := s.db.Update(func(tx *buntdb.Tx) error {
		_, err := tx.Delete(stateKey(key))
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot delete state %q: %w", key, mapErr(err))
	}
	return nil
}

// ScanState calls fn for each state key that starts with prefix, in key
// order, until fn returns false. value is a copy fn may keep. fn runs inside
// a read transaction: it must not call the Store's write methods.
func (s *Store) ScanState(prefix string, fn func(key string, value []byte) bool) error {
	p := stateKey(prefix)
	err := s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendGreaterOrEqual("", p, func(k, v string) bool {
			if !strings.HasPrefix(k, p) {
				return false
			}
			return fn(k[1:], []byte(s.strip(v)))
		})
	})
	if err != nil {
		return fmt.Errorf("cannot scan state %q: %w", prefix, mapErr(err))
	}
	return nil
}

func stateKey(key string) string { return string(rune(prefixState)) + key }

// mapErr turns buntdb's closed error into ErrClosed.
func mapErr(err error) error {
	if errors.Is(err, buntdb.ErrDatabaseClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

func be32(s string, i int) uint32 {
	return uint32(s[i])<<24 | uint32(s[i+1])<<16 | uint32(s[i+2])<<8 | uint32(s[i+3])
}

func be64(s string, i int) uint64 {
	return uint64(be32(s, i))<<32 | uint64(be32(s, i+4))
}

// NewestID returns the largest stored event ID, or 0 for an empty store. The
// meter seeds its ID generator with it so IDs keep growing across restarts.
func (s *Store) NewestID() uint64 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var newest uint64
	for _, ol := range s.orgs {
		for _, b := range ol.blocks {
			newest = max(newest, b.last)
		}
	}
	return newest
}
