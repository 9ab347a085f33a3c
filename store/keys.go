package store

import (
	"encoding/binary"
	"fmt"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// Key prefixes; doc.go describes the schema.
const (
	prefixCapture = 'b'
	prefixCell    = 'c'
	prefixDict    = 'd'
	prefixJournal = 'j'
	prefixLog     = 'l'
	prefixState   = 's'
	prefixVersion = 'v'

	keyJournal = "j"
	keyVersion = "v"
	// schemaVersion is stored under keyVersion of a new store: its values
	// are sealed (seal.go). Open also reads schemaV1 (values without seals)
	// and refuses any other.
	schemaVersion = "2"
	schemaV1      = "1"

	logKeyLen  = 1 + 4 + 8
	cellKeyLen = 1 + 4 + 8 + 5*4 + 1 + 1
	dictKeyLen = 1 + 4
)

// logKey returns the key of the block of org's logs whose first ID is first.
func logKey(org uint32, first uint64) string {
	var b [logKeyLen]byte
	b[0] = prefixLog
	binary.BigEndian.PutUint32(b[1:], org)
	binary.BigEndian.PutUint64(b[5:], first)
	return string(b[:])
}

// logOrgPrefix returns the prefix of every log key of org.
func logOrgPrefix(org uint32) string {
	var b [5]byte
	b[0] = prefixLog
	binary.BigEndian.PutUint32(b[1:], org)
	return string(b[:])
}

// parseLogKey is the inverse of logKey.
func parseLogKey(k string) (org uint32, first uint64, ok bool) {
	if len(k) != logKeyLen || k[0] != prefixLog {
		return 0, 0, false
	}
	return be32(k, 1), be64(k, 5), true
}

// dictKey returns the key of dictionary entry id.
func dictKey(id uint32) string {
	var b [dictKeyLen]byte
	b[0] = prefixDict
	binary.BigEndian.PutUint32(b[1:], id)
	return string(b[:])
}

// cellIDs is a CellKey with its strings replaced by dictionary ids.
type cellIDs struct {
	org, user, model, department, billingMode, tags uint32
	category                                        usage.Category
	errorType                                       usage.ErrorType
	hour                                            int64
}

// cellKey returns the key of cell c. The sign bit of the hour is flipped so
// that keys of one org sort by hour.
func cellKey(c cellIDs) string {
	var b [cellKeyLen]byte
	b[0] = prefixCell
	binary.BigEndian.PutUint32(b[1:], c.org)
	binary.BigEndian.PutUint64(b[5:], uint64(c.hour)^(1<<63))
	binary.BigEndian.PutUint32(b[13:], c.user)
	binary.BigEndian.PutUint32(b[17:], c.model)
	binary.BigEndian.PutUint32(b[21:], c.department)
	binary.BigEndian.PutUint32(b[25:], c.billingMode)
	binary.BigEndian.PutUint32(b[29:], c.tags)
	b[33] = byte(c.category)
	b[34] = byte(c.errorType)
	return string(b[:])
}

// oldCellKeyLen is the length of the cell keys written before cells were
// split by error type: their error type is none.
const oldCellKeyLen = cellKeyLen - 1

// parseCellKey is the inverse of cellKey.
func parseCellKey(k string) (cellIDs, error) {
	if (len(k) != cellKeyLen && len(k) != oldCellKeyLen) || k[0] != prefixCell {
		return cellIDs{}, fmt.Errorf("%w: bad cell key length %d", errCodec, len(k))
	}
	et := usage.ErrNone
	if len(k) == cellKeyLen {
		et = usage.ErrorType(k[34])
		if int(et) > len(usage.ErrorTypes()) {
			return cellIDs{}, fmt.Errorf("%w: unknown error type %d in cell key", errCodec, k[34])
		}
	}
	return cellIDs{
		errorType:   et,
		org:         be32(k, 1),
		hour:        int64(be64(k, 5) ^ (1 << 63)),
		user:        be32(k, 13),
		model:       be32(k, 17),
		department:  be32(k, 21),
		billingMode: be32(k, 25),
		tags:        be32(k, 29),
		category:    usage.Category(k[33]),
	}, nil
}

// cellVersion is the value encoding of cells written now; version 1 (no
// repeat counters) is still read.
const cellVersion = 2

// cellInts returns pointers to the integer fields of c in encoding order;
// version 1 has the first 14.
func cellInts(c *meter.Cell) [16]*int64 {
	return [16]*int64{
		&c.Requests, &c.Errors, &c.Streams, &c.Unpriced, &c.Estimated,
		&c.InputTokens, &c.OutputTokens, &c.CachedTokens, &c.CacheWrite, &c.Reasoning,
		&c.CostNano, &c.LatencyMicros, &c.TTFTMicros, &c.TTFTCount,
		&c.Repeated, &c.RepeatedCostNano,
	}
}

// appendCell appends the value encoding of c: a version byte, the integer
// fields as zigzag varints, a uvarint mask of the non-zero latency buckets
// and those buckets as uvarints.
func appendCell(dst []byte, c *meter.Cell) []byte {
	dst = append(dst, cellVersion)
	for _, p := range cellInts(c) {
		dst = binary.AppendVarint(dst, *p)
	}
	var mask uint64
	for i, n := range c.LatencyBuckets {
		if n != 0 {
			mask |= 1 << i
		}
	}
	dst = binary.AppendUvarint(dst, mask)
	for _, n := range c.LatencyBuckets {
		if n != 0 {
			dst = binary.AppendUvarint(dst, uint64(n))
		}
	}
	return dst
}

// decodeCell is the inverse of appendCell.
func decodeCell(v string) (meter.Cell, error) {
	var c meter.Cell
	d := recDecoder{s: v}
	ints := cellInts(&c)
	n := len(ints)
	switch ver := d.byte("cell version"); {
	case d.err != nil:
	case ver == 1:
		n = 14
	case ver != cellVersion:
		return c, fmt.Errorf("%w: unknown cell version %d", errCodec, ver)
	}
	for _, p := range ints[:n] {
		*p = d.varint("cell field")
	}
	mask := d.uvarint("bucket mask")
	if mask >= 1<<meter.LatencyBuckets {
		d.fail("bucket mask")
	}
	for i := range c.LatencyBuckets {
		if mask&(1<<i) != 0 {
			n := d.uvarint("bucket")
			if n > 1<<32-1 {
				d.fail("bucket")
			}
			c.LatencyBuckets[i] = uint32(n)
		}
	}
	if d.err != nil {
		return meter.Cell{}, d.err
	}
	if d.i != len(v) {
		return meter.Cell{}, fmt.Errorf("%w: %d trailing bytes in cell", errCodec, len(v)-d.i)
	}
	return c, nil
}

// key returns the CellKey of c; names maps dictionary ids to strings.
func (c cellIDs) key(names []string) (meter.CellKey, error) {
	for _, id := range [...]uint32{c.org, c.user, c.model, c.department, c.billingMode, c.tags} {
		if int(id) >= len(names) {
			return meter.CellKey{}, fmt.Errorf("%w: unknown dictionary id %d in cell key", errCodec, id)
		}
	}
	return meter.CellKey{
		Org:         names[c.org],
		User:        names[c.user],
		Model:       names[c.model],
		Department:  names[c.department],
		BillingMode: names[c.billingMode],
		Tags:        names[c.tags],
		Category:    c.category,
		ErrorType:   c.errorType,
		Hour:        c.hour,
	}, nil
}
