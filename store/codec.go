package store

import (
	"encoding/binary"
	"fmt"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// This file holds the binary encoding of request logs. Events are stored in
// blocks: one buntdb value holds up to maxBlockEvents events of one org in
// ascending ID order, so buntdb's per-item overhead (about 100 bytes of item,
// key and tree slot) is paid once per block, not once per request.
//
// Block value:
//
//	byte    blockVersion
//	uvarint count of records
//	uvarint lastID - firstID (firstID is in the key)
//	records, each:
//	  uvarint ID - previous ID (the first record: ID - firstID, so 0)
//	  uvarint zigzag(ID - Time), wrapping
//	  uvarint dictionary ids: User, Department, BillingMode, Upstream, Model, Tags
//	  byte    flags (flagStream, flagPriced, flagErrorMessage, flagRequestID,
//	          flagCapture, flagPromptHash, flagOrigin; any other bit is an error)
//	  byte    Category, ErrorType, Usage.Tier, Usage.Source
//	  varint  Status
//	  [uvarint length, bytes] ErrorMessage when flagErrorMessage
//	  [uvarint length, bytes] ProviderRequestID when flagRequestID
//	  [8 bytes little endian] PromptHash when flagPromptHash
//	  [uvarint dictionary id of Origin, uvarint OriginID] when flagOrigin
//	  uvarint mask of reported usage counts (bit i = counts[i].OK)
//	  varint  N of each reported count, in countFields order
//	  varint  CostNano, LatencyMicros, TTFTMicros, RequestBytes, ResponseBytes
//
// The org is not in the record: it is the block key's org. flagCapture says
// that the log has a Capture, stored apart under its capture key (see
// capture.go) and deleted with the log.
//
// flagRequestID, flagCapture, flagPromptHash and flagOrigin were added after the first
// blocks were written; a block without them decodes as before, so the block
// version did not change.

const (
	blockVersion = 1
	// maxBlockEvents and maxBlockBytes bound a block; the tail block of an
	// org is rewritten on each Apply until it is full.
	maxBlockEvents = 64
	maxBlockBytes  = 4096

	flagStream       = 1 << 0
	flagPriced       = 1 << 1
	flagErrorMessage = 1 << 2
	flagRequestID    = 1 << 3
	flagCapture      = 1 << 4
	flagPromptHash   = 1 << 5
	// flagOrigin: the event came from another instance of a fleet.
	flagOrigin = 1 << 6
	knownFlags = flagStream | flagPriced | flagErrorMessage | flagRequestID | flagCapture | flagPromptHash | flagOrigin

	numCounts = 13
	// maxVarintLen is the longest varint of a uint64.
	maxVarintLen = binary.MaxVarintLen64
)

// rec is one request log as stored: strings are dictionary ids. Decoding a
// block into recs allocates nothing, so filters run on ids.
type rec struct {
	id     uint64
	time   int64
	status int64
	// dict ids, in the order they are encoded
	user, department, billingMode, upstream, model, tags uint32
	category                                             usage.Category
	errorType                                            usage.ErrorType
	tier                                                 usage.Tier
	source                                               usage.Source
	stream, priced                                       bool
	errorMessage                                         string
	counts                                               [numCounts]usage.Count
	costNano, latencyMicros, ttftMicros                  int64
	requestBytes, responseBytes                          int64
	providerRequestID                                    string
	promptHash                                           uint64
	// capture: the log has a Capture under captureKey(org, id).
	capture bool
	// origin is the dictionary id of Event.Origin (0 for ""), originID
	// Event.OriginID; both are stored only when origin != 0.
	origin   uint32
	originID uint64
}

// countFields returns pointers to the usage counts in their encoding order.
func countFields(u *usage.Usage) [numCounts]*usage.Count {
	return [numCounts]*usage.Count{
		&u.Input, &u.CacheRead, &u.CacheWrite, &u.CacheWrite1h, &u.InputAudio, &u.InputImage,
		&u.Output, &u.Reasoning, &u.OutputAudio, &u.OutputImage,
		&u.AudioMillis, &u.WebSearchRequests, &u.ProviderCostNano,
	}
}

// event materialises r as a meter.Event of org; names maps dictionary ids to
// strings. It fails when r names an id that names does not hold.
func (r *rec) event(org string, names []string) (meter.Event, error) {
	ids := [...]uint32{r.user, r.department, r.billingMode, r.upstream, r.model, r.tags, r.origin}
	for _, id := range ids {
		if int(id) >= len(names) {
			return meter.Event{}, fmt.Errorf("%w: unknown dictionary id %d", errCodec, id)
		}
	}
	e := meter.Event{
		ID:            r.id,
		Time:          r.time,
		Org:           org,
		User:          names[r.user],
		Department:    names[r.department],
		BillingMode:   names[r.billingMode],
		Upstream:      names[r.upstream],
		Model:         names[r.model],
		Tags:          names[r.tags],
		Category:      r.category,
		Stream:        r.stream,
		Status:        int(r.status),
		ErrorType:     r.errorType,
		ErrorMessage:  cloneString(r.errorMessage),
		CostNano:      r.costNano,
		Priced:        r.priced,
		LatencyMicros: r.latencyMicros,
		TTFTMicros:    r.ttftMicros,
		RequestBytes:  r.requestBytes,
		ResponseBytes: r.responseBytes,

		ProviderRequestID: cloneString(r.providerRequestID),
		PromptHash:        r.promptHash,
		Origin:            names[r.origin],
	}
	if r.origin != 0 {
		e.OriginID = r.originID
	}
	e.Usage.Tier, e.Usage.Source = r.tier, r.source
	for i, c := range countFields(&e.Usage) {
		*c = r.counts[i]
	}
	return e, nil
}

// cloneString copies s so that a returned event does not keep a whole block
// alive; "" stays "".
func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string([]byte(s))
}

// appendRec appends the encoding of r to dst; prev is the ID of the record
// before it in the block (the block's first ID for the first record).
func appendRec(dst []byte, prev uint64, r *rec) []byte {
	dst = binary.AppendUvarint(dst, r.id-prev)
	dst = binary.AppendUvarint(dst, zigzag(int64(r.id-uint64(r.time))))
	dst = binary.AppendUvarint(dst, uint64(r.user))
	dst = binary.AppendUvarint(dst, uint64(r.department))
	dst = binary.AppendUvarint(dst, uint64(r.billingMode))
	dst = binary.AppendUvarint(dst, uint64(r.upstream))
	dst = binary.AppendUvarint(dst, uint64(r.model))
	dst = binary.AppendUvarint(dst, uint64(r.tags))
	var flags byte
	if r.stream {
		flags |= flagStream
	}
	if r.priced {
		flags |= flagPriced
	}
	if r.errorMessage != "" {
		flags |= flagErrorMessage
	}
	if r.providerRequestID != "" {
		flags |= flagRequestID
	}
	if r.capture {
		flags |= flagCapture
	}
	if r.promptHash != 0 {
		flags |= flagPromptHash
	}
	if r.origin != 0 {
		flags |= flagOrigin
	}
	dst = append(dst, flags, byte(r.category), byte(r.errorType), byte(r.tier), byte(r.source))
	dst = binary.AppendVarint(dst, r.status)
	if r.errorMessage != "" {
		dst = binary.AppendUvarint(dst, uint64(len(r.errorMessage)))
		dst = append(dst, r.errorMessage...)
	}
	if r.providerRequestID != "" {
		dst = binary.AppendUvarint(dst, uint64(len(r.providerRequestID)))
		dst = append(dst, r.providerRequestID...)
	}
	if r.promptHash != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, r.promptHash)
	}
	if r.origin != 0 {
		dst = binary.AppendUvarint(dst, uint64(r.origin))
		dst = binary.AppendUvarint(dst, r.originID)
	}
	var mask uint64
	for i := range r.counts {
		if r.counts[i].OK {
			mask |= 1 << i
		}
	}
	dst = binary.AppendUvarint(dst, mask)
	for i := range r.counts {
		if r.counts[i].OK {
			dst = binary.AppendVarint(dst, r.counts[i].N)
		}
	}
	dst = binary.AppendVarint(dst, r.costNano)
	dst = binary.AppendVarint(dst, r.latencyMicros)
	dst = binary.AppendVarint(dst, r.ttftMicros)
	dst = binary.AppendVarint(dst, r.requestBytes)
	dst = binary.AppendVarint(dst, r.responseBytes)
	return dst
}

// recDecoder reads records out of a block value without allocating.
type recDecoder struct {
	s    string
	i    int
	prev uint64
	err  error
}

func (d *recDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at byte %d", errCodec, what, d.i)
	}
}

func (d *recDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for n := 0; n < maxVarintLen; n++ {
		if d.i >= len(d.s) {
			d.fail(what)
			return 0
		}
		b := d.s[d.i]
		d.i++
		if b < 0x80 {
			if n == maxVarintLen-1 && b > 1 {
				d.fail(what)
				return 0
			}
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	d.fail(what)
	return 0
}

func (d *recDecoder) varint(what string) int64 { return unzigzag(d.uvarint(what)) }

// str reads a uvarint length and that many bytes, as a view of d.s.
func (d *recDecoder) str(what string) string {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.s)-d.i) {
		d.fail(what)
	}
	if d.err != nil {
		return ""
	}
	v := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return v
}

func (d *recDecoder) id32(what string) uint32 {
	v := d.uvarint(what)
	if v > 1<<32-1 {
		d.fail(what)
		return 0
	}
	return uint32(v)
}

func (d *recDecoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.i >= len(d.s) {
		d.fail(what)
		return 0
	}
	b := d.s[d.i]
	d.i++
	return b
}

func (d *recDecoder) uint64le(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.s)-d.i < 8 {
		d.fail(what)
		return 0
	}
	var v uint64
	for k := 7; k >= 0; k-- {
		v = v<<8 | uint64(d.s[d.i+k])
	}
	d.i += 8
	return v
}

// next decodes the next record into r.
func (d *recDecoder) next(r *rec) error {
	r.id = d.prev + d.uvarint("id")
	r.time = int64(r.id - uint64(unzigzag(d.uvarint("time"))))
	r.user = d.id32("user")
	r.department = d.id32("department")
	r.billingMode = d.id32("billing mode")
	r.upstream = d.id32("upstream")
	r.model = d.id32("model")
	r.tags = d.id32("tags")
	flags := d.byte("flags")
	if flags&^knownFlags != 0 {
		d.fail("flags")
	}
	r.stream, r.priced, r.capture = flags&flagStream != 0, flags&flagPriced != 0, flags&flagCapture != 0
	r.category = usage.Category(d.byte("category"))
	r.errorType = usage.ErrorType(d.byte("error type"))
	r.tier = usage.Tier(d.byte("tier"))
	r.source = usage.Source(d.byte("source"))
	r.status = d.varint("status")
	r.errorMessage, r.providerRequestID = "", ""
	if flags&flagErrorMessage != 0 {
		r.errorMessage = d.str("error message length")
	}
	if flags&flagRequestID != 0 {
		r.providerRequestID = d.str("provider request id length")
	}
	r.promptHash = 0
	if flags&flagPromptHash != 0 {
		r.promptHash = d.uint64le("prompt hash")
	}
	r.origin, r.originID = 0, 0
	if flags&flagOrigin != 0 {
		r.origin = d.id32("origin")
		r.originID = d.uvarint("origin id")
		if r.origin == 0 && d.err == nil {
			d.fail("origin")
		}
	}
	mask := d.uvarint("count mask")
	if mask >= 1<<numCounts {
		d.fail("count mask")
	}
	for i := range r.counts {
		r.counts[i] = usage.Count{}
		if mask&(1<<i) != 0 {
			r.counts[i] = usage.Count{N: d.varint("count"), OK: true}
		}
	}
	r.costNano = d.varint("cost")
	r.latencyMicros = d.varint("latency")
	r.ttftMicros = d.varint("ttft")
	r.requestBytes = d.varint("request bytes")
	r.responseBytes = d.varint("response bytes")
	d.prev = r.id
	return d.err
}

// blockHeader is the decoded header of a block value.
type blockHeader struct {
	count int
	last  uint64 // ID of the last record
	size  int    // length of the header in bytes
}

// readBlockHeader decodes the header of block value v whose first ID is first.
func readBlockHeader(first uint64, v string) (blockHeader, error) {
	d := recDecoder{s: v}
	if d.byte("version") != blockVersion && d.err == nil {
		return blockHeader{}, fmt.Errorf("%w: unknown block version %d", errCodec, v[0])
	}
	count := d.uvarint("count")
	span := d.uvarint("span")
	if d.err != nil {
		return blockHeader{}, d.err
	}
	// Every record takes at least 16 bytes, which bounds count by the size.
	if count == 0 || count > uint64(len(v)) {
		return blockHeader{}, fmt.Errorf("%w: bad record count %d", errCodec, count)
	}
	return blockHeader{count: int(count), last: first + span, size: d.i}, nil
}

// decodeBlock appends the records of block value v (first ID first) to dst.
// It checks that the records fill v exactly and that the header's count and
// last ID agree with them.
func decodeBlock(dst []rec, first uint64, v string) ([]rec, error) {
	h, err := readBlockHeader(first, v)
	if err != nil {
		return dst, err
	}
	d := recDecoder{s: v, i: h.size, prev: first}
	for n := 0; n < h.count; n++ {
		dst = append(dst, rec{})
		if err := d.next(&dst[len(dst)-1]); err != nil {
			return dst[:len(dst)-1-n], err
		}
	}
	if d.i != len(v) {
		return dst[:len(dst)-h.count], fmt.Errorf("%w: %d trailing bytes", errCodec, len(v)-d.i)
	}
	if dst[len(dst)-h.count].id != first {
		return dst[:len(dst)-h.count], fmt.Errorf("%w: first record is not the block's first id", errCodec)
	}
	if d.prev != h.last {
		return dst[:len(dst)-h.count], fmt.Errorf("%w: last id %d, header says %d", errCodec, d.prev, h.last)
	}
	return dst, nil
}

// appendBlockHeader appends a block header for count records ending at last.
func appendBlockHeader(dst []byte, first, last uint64, count int) []byte {
	dst = append(dst, blockVersion)
	dst = binary.AppendUvarint(dst, uint64(count))
	return binary.AppendUvarint(dst, last-first)
}

// encodeBlock returns the block value of recs, which are in ascending ID
// order; the block's first ID is recs[0].id.
func encodeBlock(buf []byte, recs []rec) []byte {
	first := recs[0].id
	buf = appendBlockHeader(buf[:0], first, recs[len(recs)-1].id, len(recs))
	prev := first
	for i := range recs {
		buf = appendRec(buf, prev, &recs[i])
		prev = recs[i].id
	}
	return buf
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
