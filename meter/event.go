package meter

import (
	"github.com/infermeter/infermeter/meter/usage"
)

// Event is one metered request: everything the request log shows and the
// aggregates sum. The proxy fills it with strings it owns (interned or copied
// out of the request context) and hands it to Meter.Record.
type Event struct {
	// ID is unique and grows with time (see NewID).
	ID uint64
	// Time is when the request arrived, unix nanoseconds.
	Time int64

	Org         string
	User        string
	Department  string
	BillingMode string
	// Upstream names the configured upstream (the log's connection_id).
	Upstream string
	// Model is "{upstream}/{model}".
	Model string
	// Tags is the canonical tag set "k=v,k=v" sorted by key, or "".
	Tags string

	Category  usage.Category
	Stream    bool
	Status    int
	ErrorType usage.ErrorType
	// ErrorMessage is the provider's (or the proxy's) message, truncated.
	ErrorMessage string

	Usage usage.Usage
	// CostNano is the price of Usage in nano-dollars (1e-9 USD).
	CostNano int64
	// Priced is false when the catalog had no price for Model.
	Priced bool

	LatencyMicros int64
	// TTFTMicros is the time to the first byte of the response body; 0 when
	// no body byte arrived.
	TTFTMicros int64

	RequestBytes  int64
	ResponseBytes int64

	// PromptHash fingerprints the request body (xxhash64 of the body, or of
	// its first and last 32 KiB and its length when larger), so repeated
	// identical prompts can be counted; 0 when the body was empty.
	PromptHash uint64
	// Repeat is set by the meter when the request repeats a prompt of the
	// same org and model seen within RepeatWindow (see Cell.Repeated).
	Repeat bool

	// ProviderRequestID is the provider's own id of the request, from its
	// response headers (OpenAI x-request-id, Anthropic request-id), at most
	// MaxProviderRequestID bytes; "" when the provider sent none.
	ProviderRequestID string
	// Origin and OriginID are set on an event that another instance of a
	// fleet metered (see package fleet): Origin names that instance's log
	// ("<instance_id>/<epoch>") and OriginID is the event's ID there. An
	// event metered here has Origin "" and OriginID 0. Both are stored with
	// the request log.
	Origin   string
	OriginID uint64
	// Capture holds the headers and bodies of the request when
	// capture_bodies is on, secrets already redacted; nil otherwise (and in
	// listings: the store loads it only for one log).
	Capture *Capture
}

// MaxProviderRequestID bounds Event.ProviderRequestID.
const MaxProviderRequestID = 128

// Capture is what capture_bodies keeps of one request for its details view:
// the headers and bodies the client sent and received, with every secret
// (credential headers, key-like JSON fields, provider key patterns, the
// member's and the upstream's keys) removed or replaced by "[REDACTED]" before
// it leaves the proxy. Bodies are cut at MaxCaptureBody bytes. A Capture is
// immutable once handed to Meter.Record.
type Capture struct {
	// RequestHeaders and ResponseHeaders are in the order seen; credential
	// headers are left out.
	RequestHeaders  []Header
	ResponseHeaders []Header
	// RequestBody is the body the client sent (before the proxy rewrote
	// it). ResponseBody is the body the client received, decoded when the
	// provider compressed it; for a stream, the bytes as sent to the client.
	RequestBody  string
	ResponseBody string
	// RequestTruncated and ResponseTruncated tell that a body was longer
	// than MaxCaptureBody and was cut.
	RequestTruncated  bool
	ResponseTruncated bool
}

// MaxCaptureBody bounds each body of a Capture.
const MaxCaptureBody = 64 << 10

// Header is one captured HTTP header.
type Header struct {
	Name, Value string
}

// Failed reports whether the request ended in an error.
func (e *Event) Failed() bool { return e.ErrorType != usage.ErrNone }

// CellKey identifies one hourly aggregate cell.
type CellKey struct {
	Org         string
	User        string
	Model       string
	Department  string
	BillingMode string
	Tags        string
	Category    usage.Category
	// ErrorType is the failure of the requests of the cell (ErrNone for
	// the successful ones), so errors can be told apart by type from the
	// aggregates alone.
	ErrorType usage.ErrorType
	// Hour is the start of the hour in the org's timezone, unix seconds.
	Hour int64
}

// LatencyBuckets is the number of buckets of a Cell's latency histogram.
const LatencyBuckets = 24

// Cell holds the sums of every event of one CellKey.
type Cell struct {
	Requests      int64
	Errors        int64
	Streams       int64
	Unpriced      int64
	Estimated     int64
	InputTokens   int64
	OutputTokens  int64
	CachedTokens  int64
	CacheWrite    int64
	Reasoning     int64
	CostNano      int64
	LatencyMicros int64
	TTFTMicros    int64
	TTFTCount     int64
	// Repeated counts the successful requests that repeated a prompt of the
	// same org and model seen within RepeatWindow (a response cache would
	// have answered them), RepeatedCostNano what they cost.
	Repeated         int64
	RepeatedCostNano int64
	LatencyBuckets   [LatencyBuckets]uint32
}

// CellRecord is a cell with its key, as handed to the store.
type CellRecord struct {
	Key  CellKey
	Cell Cell
}
