package fleet

import (
	"errors"
	"fmt"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// wireVersion is the version of the message payload; a consumer refuses
// (and terminates) messages of a version it does not know.
const wireVersion = 1

// errBadPayload is wrapped by every payload decoding error.
var errBadPayload = errors.New("bad fleet event payload")

// wireEvent is the JSON payload of one published event: a meter.Event
// without its Capture, with the origin and the chain link. Short keys keep
// it compact; zero values are left out.
type wireEvent struct {
	V int `json:"v"`
	// Origin is "<instance_id>/<epoch>", ID the event's ID there, Prev the
	// ID of the event the origin published before it (0 for its first).
	Origin string `json:"o"`
	ID     uint64 `json:"i"`
	Prev   uint64 `json:"p,omitempty"`

	Time         int64  `json:"t"`
	Org          string `json:"org"`
	User         string `json:"u,omitempty"`
	Department   string `json:"d,omitempty"`
	BillingMode  string `json:"b,omitempty"`
	Upstream     string `json:"up,omitempty"`
	Model        string `json:"m,omitempty"`
	Tags         string `json:"tg,omitempty"`
	Category     uint8  `json:"c,omitempty"`
	Stream       bool   `json:"s,omitempty"`
	Status       int    `json:"st,omitempty"`
	ErrorType    uint8  `json:"e,omitempty"`
	ErrorMessage string `json:"em,omitempty"`
	// Counts are the usage counts in countFields order: [N, 1] when
	// reported, null when not.
	Counts        []*[2]int64 `json:"n,omitempty"`
	Tier          uint8       `json:"ti,omitempty"`
	Source        uint8       `json:"so,omitempty"`
	CostNano      int64       `json:"cost,omitempty"`
	Priced        bool        `json:"pr,omitempty"`
	LatencyMicros int64       `json:"l,omitempty"`
	TTFTMicros    int64       `json:"ft,omitempty"`
	RequestBytes  int64       `json:"rq,omitempty"`
	ResponseBytes int64       `json:"rs,omitempty"`
	PromptHash    uint64      `json:"h,omitempty"`
	RequestID     string      `json:"rid,omitempty"`
}

// countFields returns pointers to the usage counts in their wire order.
func countFields(u *usage.Usage) [13]*usage.Count {
	return [13]*usage.Count{
		&u.Input, &u.CacheRead, &u.CacheWrite, &u.CacheWrite1h, &u.InputAudio, &u.InputImage,
		&u.Output, &u.Reasoning, &u.OutputAudio, &u.OutputImage,
		&u.AudioMillis, &u.WebSearchRequests, &u.ProviderCostNano,
	}
}

// encodeEvent returns the payload of ev, published by origin after the
// event prev.
func encodeEvent(ev *meter.Event, origin string, prev uint64) ([]byte, error) {
	w := wireEvent{
		V: wireVersion, Origin: origin, ID: ev.ID, Prev: prev,
		Time: ev.Time, Org: ev.Org, User: ev.User, Department: ev.Department, BillingMode: ev.BillingMode,
		Upstream: ev.Upstream, Model: ev.Model, Tags: ev.Tags,
		Category: uint8(ev.Category), Stream: ev.Stream, Status: ev.Status,
		ErrorType: uint8(ev.ErrorType), ErrorMessage: ev.ErrorMessage,
		Tier: uint8(ev.Usage.Tier), Source: uint8(ev.Usage.Source),
		CostNano: ev.CostNano, Priced: ev.Priced,
		LatencyMicros: ev.LatencyMicros, TTFTMicros: ev.TTFTMicros,
		RequestBytes: ev.RequestBytes, ResponseBytes: ev.ResponseBytes,
		PromptHash: ev.PromptHash, RequestID: ev.ProviderRequestID,
	}
	u := ev.Usage
	last := -1
	for i, c := range countFields(&u) {
		if c.OK {
			last = i
		}
	}
	if last >= 0 {
		w.Counts = make([]*[2]int64, last+1)
		for i, c := range countFields(&u) {
			if i <= last && c.OK {
				w.Counts[i] = &[2]int64{c.N, 1}
			}
		}
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("cannot encode event %d: %w", ev.ID, err)
	}
	return b, nil
}

// decodeEvent parses a payload into an event for the local meter: ID 0 (the
// meter assigns one), Origin and OriginID set; prev is the chain link.
func decodeEvent(b []byte) (ev meter.Event, prev uint64, err error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return ev, 0, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	// Strings are made valid UTF-8 here, as encoding them would: a
	// payload decodes to the event it encodes back to.
	for _, p := range []*string{&w.Origin, &w.Org, &w.User, &w.Department, &w.BillingMode, &w.Upstream,
		&w.Model, &w.Tags, &w.ErrorMessage, &w.RequestID} {
		*p = strings.ToValidUTF8(*p, "\uFFFD")
	}
	switch {
	case w.V != wireVersion:
		return ev, 0, fmt.Errorf("%w: version %d, this build reads %d", errBadPayload, w.V, wireVersion)
	case w.Origin == "":
		return ev, 0, fmt.Errorf("%w: no origin", errBadPayload)
	case w.ID == 0:
		return ev, 0, fmt.Errorf("%w: no event id", errBadPayload)
	case w.Prev >= w.ID:
		return ev, 0, fmt.Errorf("%w: previous event %d is not before event %d", errBadPayload, w.Prev, w.ID)
	case w.Org == "":
		return ev, 0, fmt.Errorf("%w: no org", errBadPayload)
	case len(w.Counts) > 13:
		return ev, 0, fmt.Errorf("%w: %d usage counts", errBadPayload, len(w.Counts))
	case len(w.RequestID) > meter.MaxProviderRequestID:
		return ev, 0, fmt.Errorf("%w: provider request id of %d bytes", errBadPayload, len(w.RequestID))
	}
	ev = meter.Event{
		Time: w.Time, Org: w.Org, User: w.User, Department: w.Department, BillingMode: w.BillingMode,
		Upstream: w.Upstream, Model: w.Model, Tags: w.Tags,
		Category: usage.Category(w.Category), Stream: w.Stream, Status: w.Status,
		ErrorType: usage.ErrorType(w.ErrorType), ErrorMessage: w.ErrorMessage,
		CostNano: w.CostNano, Priced: w.Priced,
		LatencyMicros: w.LatencyMicros, TTFTMicros: w.TTFTMicros,
		RequestBytes: w.RequestBytes, ResponseBytes: w.ResponseBytes,
		PromptHash: w.PromptHash, ProviderRequestID: w.RequestID,
		Origin: w.Origin, OriginID: w.ID,
	}
	ev.Usage.Tier, ev.Usage.Source = usage.Tier(w.Tier), usage.Source(w.Source)
	fields := countFields(&ev.Usage)
	for i, c := range w.Counts {
		if c == nil {
			continue
		}
		if c[1] != 1 {
			return meter.Event{}, 0, fmt.Errorf("%w: usage count %d is not [N, 1]", errBadPayload, i)
		}
		*fields[i] = usage.Count{N: c[0], OK: true}
	}
	return ev, w.Prev, nil
}
