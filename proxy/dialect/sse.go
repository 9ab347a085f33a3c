package dialect

import "bytes"

// Event is one server-sent event. Its slices alias the scanner's input or
// internal buffer and are valid only during the callback that receives it.
type Event struct {
	// Name is the value of the event's "event:" line, or empty.
	Name []byte
	// Data is the event's data: its "data:" lines joined with "\n", the one
	// optional space after "data:" removed and trailing whitespace trimmed.
	Data []byte
	// Raw is the exact bytes of the event including its terminating blank
	// line (comment lines included), so a caller can forward or drop whole
	// events byte-exactly. The Raw of every event of a stream, concatenated,
	// is the stream.
	Raw []byte
}

// SSEScanner splits a text/event-stream into events incrementally. Feed it
// chunks as they arrive: events may be split across chunks at any byte, and
// lines may end in "\n", "\r\n" or "\r", mixed. It keeps only the incomplete
// tail of the stream between calls and does not allocate once its buffers
// have grown to the largest event. The zero value is ready to use; a scanner
// is not safe for concurrent use.
type SSEScanner struct {
	buf  []byte // the incomplete tail: bytes of the event in progress
	pos  int    // where line scanning resumes in buf
	data []byte // joined data of multi-line events
}

// Reset drops any buffered tail, keeping the buffers for reuse.
func (s *SSEScanner) Reset() {
	s.buf = s.buf[:0]
	s.pos = 0
	s.data = s.data[:0]
}

// Feed scans p and calls fn for every event that p completes. p is not
// retained.
func (s *SSEScanner) Feed(p []byte, fn func(Event)) {
	if len(s.buf) == 0 {
		start, pos := s.scan(p, 0, fn)
		if start < len(p) {
			s.buf = append(s.buf, p[start:]...)
			s.pos = pos - start
		}
		return
	}
	s.buf = append(s.buf, p...)
	start, pos := s.scan(s.buf, s.pos, fn)
	n := copy(s.buf, s.buf[start:])
	s.buf = s.buf[:n]
	s.pos = pos - start
}

// Finish calls fn for the unterminated trailing event, if any, and resets
// the scanner.
func (s *SSEScanner) Finish(fn func(Event)) {
	if len(s.buf) > 0 {
		fn(s.event(s.buf, s.buf))
	}
	s.Reset()
}

// scan dispatches the complete events of b, scanning lines from pos. It
// returns the start of the incomplete tail and where scanning stopped.
func (s *SSEScanner) scan(b []byte, pos int, fn func(Event)) (start, stop int) {
	for {
		i := lineEnd(b[pos:])
		if i < 0 {
			return start, pos
		}
		i += pos
		next := i + 1
		if b[i] == '\r' {
			if next == len(b) {
				// "\r" may be the first half of "\r\n": wait for more.
				return start, pos
			}
			if b[next] == '\n' {
				next++
			}
		}
		if i == pos {
			// A blank line ends the event.
			fn(s.event(b[start:next], b[start:pos]))
			start = next
		}
		pos = next
	}
}

// lineEnd returns the index of the first '\r' or '\n' in b, or -1.
func lineEnd(b []byte) int {
	n := bytes.IndexByte(b, '\n')
	hay := b
	if n >= 0 {
		hay = b[:n]
	}
	if r := bytes.IndexByte(hay, '\r'); r >= 0 {
		return r
	}
	return n
}

// event parses the field lines of one event.
func (s *SSEScanner) event(raw, lines []byte) Event {
	ev := Event{Raw: raw}
	ndata := 0
	for len(lines) > 0 {
		i := lineEnd(lines)
		var line []byte
		if i < 0 {
			line, lines = lines, nil
		} else {
			line = lines[:i]
			next := i + 1
			if lines[i] == '\r' && next < len(lines) && lines[next] == '\n' {
				next++
			}
			lines = lines[next:]
		}
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			field, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			ev.Name = bytes.TrimSpace(value)
		case "data":
			switch ndata {
			case 0:
				ev.Data = value
			case 1:
				s.data = append(append(append(s.data[:0], ev.Data...), '\n'), value...)
				ev.Data = s.data
			default:
				s.data = append(append(s.data, '\n'), value...)
				ev.Data = s.data
			}
			ndata++
		}
	}
	ev.Data = bytes.TrimRight(ev.Data, " \t\r\n")
	return ev
}
