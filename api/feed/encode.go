package feed

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/infermeter/infermeter/meter"
)

// The feed writes its event JSON by hand: Publish runs on the meter's
// goroutine for every event, and an append encoder costs one allocation
// (the finished message) where reflection costs several.

// appendRequest appends the request event of ev (a successful request).
func appendRequest(dst []byte, ev *meter.Event) []byte {
	dst = append(dst, `{"type":"request","id":"`...)
	dst = strconv.AppendUint(dst, ev.ID, 10)
	dst = appendWho(dst, ev)
	dst = append(dst, `,"input_tokens":`...)
	dst = strconv.AppendInt(dst, ev.Usage.Input.Value(), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, ev.Usage.Output.Value(), 10)
	dst = append(dst, `,"cached_tokens":`...)
	dst = strconv.AppendInt(dst, ev.Usage.CacheRead.Value(), 10)
	dst = append(dst, `,"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, ev.Usage.Reasoning.Value(), 10)
	dst = append(dst, `,"cost_usd":`...)
	dst = appendUSD(dst, ev.CostNano)
	dst = append(dst, `,"priced":`...)
	dst = strconv.AppendBool(dst, ev.Priced)
	dst = appendTiming(dst, ev)
	dst = append(dst, `,"status":"success","http_status":`...)
	dst = strconv.AppendInt(dst, int64(ev.Status), 10)
	dst = appendTimestamp(dst, ev.Time)
	return append(dst, '}')
}

// appendError appends the error event of ev (a failed request).
func appendError(dst []byte, ev *meter.Event) []byte {
	dst = append(dst, `{"type":"error","id":"`...)
	dst = strconv.AppendUint(dst, ev.ID, 10)
	dst = appendWho(dst, ev)
	dst = append(dst, `,"error_type":`...)
	dst = appendString(dst, ev.ErrorType.String())
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, ev.ErrorMessage)
	dst = append(dst, `,"cost_usd":`...)
	dst = appendUSD(dst, ev.CostNano)
	dst = appendTiming(dst, ev)
	dst = append(dst, `,"status":"error","http_status":`...)
	dst = strconv.AppendInt(dst, int64(ev.Status), 10)
	dst = appendTimestamp(dst, ev.Time)
	return append(dst, '}')
}

// appendWho appends the org, user and model of ev after the id.
func appendWho(dst []byte, ev *meter.Event) []byte {
	dst = append(dst, `","org_id":`...)
	dst = appendString(dst, ev.Org)
	dst = append(dst, `,"user_id":`...)
	dst = appendString(dst, ev.User)
	dst = append(dst, `,"model":`...)
	return appendString(dst, ev.Model)
}

// appendTiming appends latency, time to first byte and stream, in whole
// milliseconds as request logs show them.
func appendTiming(dst []byte, ev *meter.Event) []byte {
	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendInt(dst, ev.LatencyMicros/1000, 10)
	dst = append(dst, `,"ttft_ms":`...)
	dst = strconv.AppendInt(dst, ev.TTFTMicros/1000, 10)
	dst = append(dst, `,"stream":`...)
	return strconv.AppendBool(dst, ev.Stream)
}

// appendTimestamp appends the timestamp field: t (unix nanoseconds) in
// RFC 3339 UTC with up to nine decimals, as request logs show it.
func appendTimestamp(dst []byte, t int64) []byte {
	dst = append(dst, `,"timestamp":"`...)
	dst = time.Unix(0, t).UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// warning is one limit crossing.
type warning struct {
	org, user string // user is "" for the org's budget
	pct       int    // 80 or 100
	spend     int64  // month-to-date spend, nano-dollars
	limit     int64  // nano-dollars
	time      int64  // of the event that crossed it, unix nanoseconds
}

// appendWarning appends the limit_warning event of w.
func appendWarning(dst []byte, w *warning) []byte {
	dst = append(dst, `{"type":"limit_warning","org_id":`...)
	dst = appendString(dst, w.org)
	dst = appendScope(dst, w.user)
	dst = append(dst, `,"threshold_pct":`...)
	dst = strconv.AppendInt(dst, int64(w.pct), 10)
	dst = append(dst, `,"spend_usd":`...)
	dst = appendUSD(dst, w.spend)
	dst = append(dst, `,"limit_usd":`...)
	dst = appendUSD(dst, w.limit)
	dst = appendTimestamp(dst, w.time)
	return append(dst, '}')
}

// appendCostUpdate appends the cost_update event of one subscriber.
func appendCostUpdate(dst []byte, org, user string, t totals, now time.Time) []byte {
	dst = append(dst, `{"type":"cost_update","org_id":`...)
	dst = appendString(dst, org)
	dst = appendScope(dst, user)
	dst = append(dst, `,"today":{"cost_usd":`...)
	dst = appendUSD(dst, t.todayNano)
	dst = append(dst, `,"requests":`...)
	dst = strconv.AppendInt(dst, t.todayRequests, 10)
	dst = append(dst, `},"month":{"cost_usd":`...)
	dst = appendUSD(dst, t.monthNano)
	dst = append(dst, `,"requests":`...)
	dst = strconv.AppendInt(dst, t.monthRequests, 10)
	dst = append(dst, '}')
	dst = appendTimestamp(dst, now.UnixNano())
	return append(dst, '}')
}

// appendScope appends "scope" ("org" when user is "", else "member") and
// "user_id".
func appendScope(dst []byte, user string) []byte {
	if user == "" {
		dst = append(dst, `,"scope":"org"`...)
	} else {
		dst = append(dst, `,"scope":"member"`...)
	}
	dst = append(dst, `,"user_id":`...)
	return appendString(dst, user)
}

// appendUSD appends nano-dollars n as an exact decimal number of USD, with
// up to nine decimals and no trailing zeros. It formats exactly as
// api.AppendUSD; the dozen lines are repeated here rather than imported so
// that the feed does not depend on the REST API.
func appendUSD(dst []byte, n int64) []byte {
	u := uint64(n)
	if n < 0 {
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/1e9, 10)
	frac := u % 1e9
	if frac == 0 {
		return dst
	}
	var buf [9]byte
	for i := 8; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 9
	for buf[end-1] == '0' {
		end--
	}
	dst = append(dst, '.')
	return append(dst, buf[:end]...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the text is safe inside a script too.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
