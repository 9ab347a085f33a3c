package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tidwall/buntdb"

	"github.com/infermeter/infermeter/meter"
)

// This file holds the captured headers and bodies of request logs
// (capture_bodies). A capture is kept apart from the log blocks, one value
// per log, so that listings never read it: key captureKey(org, ID), written
// in the same Apply as its log (the log's record carries flagCapture) and
// deleted in the same transaction as its log, by max_logs or retention.
//
// Capture value:
//
//	byte    captureVersion
//	byte    flags (captureRequestTruncated, captureResponseTruncated)
//	uvarint count of request headers, then each: uvarint length, name,
//	        uvarint length, value
//	uvarint count of response headers, the same
//	uvarint length, request body
//	uvarint length, response body

const (
	captureVersion = 1

	captureRequestTruncated  = 1 << 0
	captureResponseTruncated = 1 << 1

	captureKeyLen = 1 + 4 + 8
)

// captureKey returns the key of the capture of org's log id.
func captureKey(org uint32, id uint64) string {
	var b [captureKeyLen]byte
	b[0] = prefixCapture
	binary.BigEndian.PutUint32(b[1:], org)
	binary.BigEndian.PutUint64(b[5:], id)
	return string(b[:])
}

// appendCapture appends the value encoding of c to dst.
func appendCapture(dst []byte, c *meter.Capture) []byte {
	var flags byte
	if c.RequestTruncated {
		flags |= captureRequestTruncated
	}
	if c.ResponseTruncated {
		flags |= captureResponseTruncated
	}
	dst = append(dst, captureVersion, flags)
	str := func(s string) {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	for _, hs := range [...][]meter.Header{c.RequestHeaders, c.ResponseHeaders} {
		dst = binary.AppendUvarint(dst, uint64(len(hs)))
		for _, h := range hs {
			str(h.Name)
			str(h.Value)
		}
	}
	str(c.RequestBody)
	str(c.ResponseBody)
	return dst
}

// decodeCapture is the inverse of appendCapture. The strings of the result
// are views of v.
func decodeCapture(v string) (*meter.Capture, error) {
	d := recDecoder{s: v}
	if ver := d.byte("capture version"); d.err == nil && ver != captureVersion {
		return nil, fmt.Errorf("%w: unknown capture version %d", errCodec, ver)
	}
	flags := d.byte("capture flags")
	if flags&^(captureRequestTruncated|captureResponseTruncated) != 0 {
		d.fail("capture flags")
	}
	c := &meter.Capture{
		RequestTruncated:  flags&captureRequestTruncated != 0,
		ResponseTruncated: flags&captureResponseTruncated != 0,
	}
	for _, dst := range [...]*[]meter.Header{&c.RequestHeaders, &c.ResponseHeaders} {
		n := d.uvarint("header count")
		// Each header takes at least two bytes, which bounds n by the size.
		if d.err == nil && n > uint64(len(v)-d.i)/2 {
			d.fail("header count")
		}
		if d.err != nil {
			break
		}
		if n > 0 {
			*dst = make([]meter.Header, 0, n)
		}
		for range n {
			name := d.str("header name")
			*dst = append(*dst, meter.Header{Name: name, Value: d.str("header value")})
		}
	}
	c.RequestBody = d.str("request body")
	c.ResponseBody = d.str("response body")
	if d.err != nil {
		return nil, d.err
	}
	if d.i != len(v) {
		return nil, fmt.Errorf("%w: %d trailing bytes in capture", errCodec, len(v)-d.i)
	}
	return c, nil
}

// putCapture adds the capture of event e of org to b. Writer only.
func (s *Store) putCapture(b *batch, org uint32, e *meter.Event) {
	s.buf = appendCapture(s.buf[:0], e.Capture)
	b.set(captureKey(org, e.ID), string(s.buf))
	s.hasCaptures = true
}

// dropBlockCaptures adds to b the deletion of the captures of the logs of
// block blk of org, which is being evicted whole. A store that never held a
// capture skips reading the block. Writer only.
func (s *Store) dropBlockCaptures(b *batch, org uint32, blk blockInfo) error {
	if !s.hasCaptures {
		return nil
	}
	recs, err := s.readBlock(b, org, blk)
	if err != nil {
		return err
	}
	dropCaptures(b, org, recs)
	return nil
}

// dropCaptures adds to b the deletion of the captures of recs, logs of org
// that are being evicted.
func dropCaptures(b *batch, org uint32, recs []rec) {
	for i := range recs {
		if recs[i].capture {
			b.delete(captureKey(org, recs[i].id))
		}
	}
}

// loadCapture reads the capture of org's log id in tx.
func (s *Store) loadCapture(tx *buntdb.Tx, org uint32, id uint64) (*meter.Capture, error) {
	v, err := tx.Get(captureKey(org, id))
	if errors.Is(err, buntdb.ErrNotFound) {
		return nil, fmt.Errorf("%w: the capture of log %d is missing", ErrCorrupt, id)
	}
	if err != nil {
		return nil, err
	}
	return decodeCapture(s.strip(v))
}
