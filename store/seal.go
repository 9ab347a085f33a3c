package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"unsafe"
)

// A store of schema version 2 seals every value it writes (all but the
// schema version's own): the value is followed by the CRC-32C (Castagnoli)
// of its key and itself, 4 bytes big endian. Open verifies every seal, so
// a byte changed inside a value (a bit flip on disk, an edit) or a value
// moved to another key refuses the file at start instead of being read as
// another value; once open, readers only strip the seal (the values are in
// memory). Stores of schema version 1 were written without seals and are
// read as they are.

const sealLen = 4

// sealSum is the seal of value v under key.
func sealSum(key, v string) uint32 {
	t := crc32.MakeTable(crc32.Castagnoli)
	return crc32.Update(crc32.Update(0, t, bytesOf(key)), t, bytesOf(v))
}

// bytesOf returns the bytes of s without copying them; they must not be
// changed.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// seal returns v as stored under key.
func (s *Store) seal(key, v string) string {
	if !s.sealed {
		return v
	}
	var sum [sealLen]byte
	binary.BigEndian.PutUint32(sum[:], sealSum(key, v))
	return v + string(sum[:])
}

// unseal returns the value stored as v under key, checking its seal.
func (s *Store) unseal(key, v string) (string, error) {
	if !s.sealed {
		return v, nil
	}
	if len(v) < sealLen {
		return "", fmt.Errorf("%w: the value of %s is %d bytes, shorter than its checksum", ErrCorrupt, keyName(key), len(v))
	}
	body := v[:len(v)-sealLen]
	if got, want := binary.BigEndian.Uint32(bytesOf(v[len(body):])), sealSum(key, body); got != want {
		return "", fmt.Errorf("%w: the value of %s fails its checksum (%08x, computed %08x)", ErrCorrupt, keyName(key), got, want)
	}
	return body, nil
}

// strip returns the value stored as v, whose seal Open verified.
func (s *Store) strip(v string) string {
	if !s.sealed || len(v) < sealLen {
		return v
	}
	return v[:len(v)-sealLen]
}

// keyName names a key for an error message: its kind and its bytes.
func keyName(key string) string {
	kind := "key"
	if key != "" {
		switch key[0] {
		case prefixCapture:
			kind = "capture key"
		case prefixCell:
			kind = "cell key"
		case prefixDict:
			kind = "dictionary key"
		case prefixJournal:
			kind = "journal key"
		case prefixLog:
			kind = "log block key"
		case prefixState:
			kind = "state key"
		}
	}
	return fmt.Sprintf("%s %q", kind, key)
}
