package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/buntdb"
)

// A buntdb transaction is written to the file as one write, but its commands
// come out in map order, and on load buntdb keeps every complete command
// before a torn one. A crash in the middle of a commit could therefore leave
// half a transaction (some cells updated, their logs missing). To keep every
// multi-key write atomic, the writer first stores the whole batch as the one
// value of the journal key (a single command, which loads entirely or not at
// all), then applies the batch. Open replays the journal: its writes are
// absolute sets and deletes, and every multi-key write goes through it, so
// replaying the last one is idempotent.

// batch is a set of writes to apply atomically; a later write to a key
// replaces an earlier one.
type batch struct {
	ops []op
	idx map[string]int
}

type op struct {
	key, val string
	del      bool
}

func newBatch() *batch { return &batch{idx: make(map[string]int)} }

func (b *batch) put(o op) {
	if i, ok := b.idx[o.key]; ok {
		b.ops[i] = o
		return
	}
	b.idx[o.key] = len(b.ops)
	b.ops = append(b.ops, o)
}

func (b *batch) set(key, val string) { b.put(op{key: key, val: val}) }
func (b *batch) delete(key string)   { b.put(op{key: key, del: true}) }

// get returns the pending value of key: found reports whether the batch
// writes key, ok whether it exists after the write.
func (b *batch) get(key string) (val string, ok, found bool) {
	i, found := b.idx[key]
	if !found {
		return "", false, false
	}
	return b.ops[i].val, !b.ops[i].del, true
}

const journalVersion = 1

// encode returns the journal value of b: a version byte, then per write a
// kind byte (1 set, 2 delete), the uvarint-prefixed key and, for a set, the
// uvarint-prefixed value.
func (b *batch) encode() string {
	n := 1
	for _, o := range b.ops {
		n += 1 + 2*maxVarintLen + len(o.key) + len(o.val)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, journalVersion)
	for _, o := range b.ops {
		if o.del {
			buf = append(buf, 2)
			buf = binary.AppendUvarint(buf, uint64(len(o.key)))
			buf = append(buf, o.key...)
			continue
		}
		buf = append(buf, 1)
		buf = binary.AppendUvarint(buf, uint64(len(o.key)))
		buf = append(buf, o.key...)
		buf = binary.AppendUvarint(buf, uint64(len(o.val)))
		buf = append(buf, o.val...)
	}
	return string(buf)
}

// decodeJournal is the inverse of batch.encode.
func decodeJournal(v string) (*batch, error) {
	b := newBatch()
	d := recDecoder{s: v}
	if ver := d.byte("journal version"); d.err == nil && ver != journalVersion {
		return nil, fmt.Errorf("%w: unknown journal version %d", errCodec, ver)
	}
	str := func(what string) string {
		n := d.uvarint(what)
		if d.err == nil && n > uint64(len(d.s)-d.i) {
			d.fail(what)
		}
		if d.err != nil {
			return ""
		}
		// Clone: a value kept in buntdb must not pin the whole journal.
		s := strings.Clone(d.s[d.i : d.i+int(n)])
		d.i += int(n)
		return s
	}
	for d.err == nil && d.i < len(v) {
		switch kind := d.byte("journal op"); kind {
		case 1:
			k := str("journal key")
			b.set(k, str("journal value"))
		case 2:
			b.delete(str("journal key"))
		default:
			d.fail("journal op")
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return b, nil
}

// applyBatch writes b in tx, sealing its values.
func (s *Store) applyBatch(tx *buntdb.Tx, b *batch) error {
	for _, o := range b.ops {
		if o.del {
			if _, err := tx.Delete(o.key); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			continue
		}
		if _, _, err := tx.Set(o.key, s.seal(o.key, o.val), nil); err != nil {
			return err
		}
	}
	return nil
}

// commit writes b atomically: the journal first, then the writes.
func (s *Store) commit(b *batch) error {
	if len(b.ops) == 0 {
		return nil
	}
	j := s.seal(keyJournal, b.encode())
	if err := s.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(keyJournal, j, nil)
		return err
	}); err != nil {
		return fmt.Errorf("cannot write journal: %w", mapErr(err))
	}
	if err := s.db.Update(func(tx *buntdb.Tx) error { return s.applyBatch(tx, b) }); err != nil {
		// The journal holds writes that did not happen: replace it with an
		// empty one so that a restart does not replay them.
		_ = s.db.Update(func(tx *buntdb.Tx) error {
			_, _, err := tx.Set(keyJournal, s.seal(keyJournal, string([]byte{journalVersion})), nil)
			return err
		})
		return fmt.Errorf("cannot commit batch: %w", mapErr(err))
	}
	return nil
}

// replayJournal re-applies the journal found at open.
func (s *Store) replayJournal() error {
	db := s.db
	var j string
	err := db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(keyJournal)
		j = v
		return err
	})
	if errors.Is(err, buntdb.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j, err = s.unseal(keyJournal, j); err != nil {
		return err
	}
	b, err := decodeJournal(j)
	if err != nil {
		return err
	}
	if len(b.ops) == 0 {
		return nil
	}
	// Nearly always the journal's writes are all in the store already:
	// replay only when they are not, so that a store on a full disk opens.
	done := false
	if err := db.View(func(tx *buntdb.Tx) error {
		done = s.batchApplied(tx, b)
		return nil
	}); err != nil {
		return err
	}
	if done {
		return nil
	}
	return db.Update(func(tx *buntdb.Tx) error { return s.applyBatch(tx, b) })
}

// batchApplied reports whether the store holds every write of b.
func (s *Store) batchApplied(tx *buntdb.Tx, b *batch) bool {
	for _, o := range b.ops {
		v, err := tx.Get(o.key)
		switch {
		case o.del && !errors.Is(err, buntdb.ErrNotFound):
			return false
		case !o.del && (err != nil || v != s.seal(o.key, o.val)):
			return false
		}
	}
	return true
}
