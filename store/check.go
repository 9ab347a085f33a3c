package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// buntdb's load truncates the file at the first command that runs past the
// end of the file, taking it for a write torn by a crash. A damaged length
// in the middle of the file looks the same and would silently drop
// everything after it; a file that is not a store at all would be emptied.
// checkFile scans the file before buntdb opens it and lets a truncation
// happen only when what it drops is one torn command: no complete command
// header follows the torn one.

// tornHeaders are the command headers buntdb writes; none may appear in a
// torn tail.
var tornHeaders = [...][]byte{[]byte("\r\n*3\r\n$3\r\nset\r\n"), []byte("\r\n*2\r\n$3\r\ndel\r\n")}

// fileDamage describes where a store file stops being readable.
type fileDamage struct {
	at, size int64
	why      string
}

func (d *fileDamage) Error() string {
	return fmt.Sprintf("%s at byte %d of %d (the first %d bytes are intact: truncating the file to %d bytes keeps them)",
		d.why, d.at, d.size, d.at, d.at)
}

// checkFile returns nil when buntdb may load the file at path (missing,
// whole, or with a torn last command), and a *fileDamage otherwise.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	r := bufio.NewReaderSize(f, 1<<20)
	pos := int64(0)  // start of the command being read
	prev := int64(0) // start of the command before it
	for {
		n, err := scanCommand(r, size-pos)
		switch {
		case err == io.EOF && n == 0:
			return nil
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return checkTornTail(f, pos, size)
		case errors.Is(err, errNotCommand) && pos > 0:
			// The previous command read as whole but does not end where a
			// command starts: its last length may be what is damaged.
			return &fileDamage{at: prev, size: size, why: fmt.Sprintf("damaged command (%s at byte %d follows it)", err, pos+n)}
		case err != nil:
			return &fileDamage{at: pos, size: size, why: err.Error()}
		}
		prev = pos
		pos += n
	}
}

// errNotCommand is wrapped by scanCommand when a command does not start
// with '*'.
var errNotCommand = errors.New("not a command")

// scanCommand reads one RESP command of at most max bytes (NUL padding is
// skipped as buntdb does) and returns its length. It returns io.EOF with 0 at
// a clean end, io.EOF or io.ErrUnexpectedEOF for a torn command, and another
// error for a malformed one.
func scanCommand(r *bufio.Reader, max int64) (int64, error) {
	var n int64
	for {
		c, err := r.ReadByte()
		if err != nil {
			if n == 0 {
				return 0, err
			}
			return n, io.EOF // only padding left: nothing to lose
		}
		if c == '*' {
			_ = r.UnreadByte()
			break
		}
		if c != 0 {
			return n, fmt.Errorf("%w (byte %#x)", errNotCommand, c)
		}
		n++
	}
	parts, ln, err := scanInt(r, '*')
	n += ln
	if err != nil {
		return n, err
	}
	if parts < 1 || parts > 5 {
		return n, fmt.Errorf("command with %d parts", parts)
	}
	for i := range parts {
		l, ln, err := scanInt(r, '$')
		n += ln
		if err != nil {
			return n, err
		}
		if l > max {
			return n, io.ErrUnexpectedEOF
		}
		if i == 0 {
			// The command name must fit the number of parts, so that a
			// damaged count is caught here and not as a misplaced next
			// command.
			name, err := r.Peek(int(min(l, 8)))
			if err != nil {
				return n, io.ErrUnexpectedEOF
			}
			if !validCommand(name, l, parts) {
				return n, fmt.Errorf("command %q with %d parts", name, parts)
			}
		}
		d, err := r.Discard(int(l))
		n += int64(d)
		if err != nil {
			return n, io.ErrUnexpectedEOF
		}
		var crlf [2]byte
		k, err := io.ReadFull(r, crlf[:])
		n += int64(k)
		if err != nil {
			return n, io.ErrUnexpectedEOF
		}
		if crlf != [2]byte{'\r', '\n'} {
			return n, errors.New("value not followed by CRLF")
		}
	}
	return n, nil
}

// validCommand reports whether name (the first bytes of a command name of
// length l) and the number of parts make a command buntdb writes: set key
// value [ex seconds], del key, flushdb.
func validCommand(name []byte, l, parts int64) bool {
	switch {
	case l == 3 && bytes.EqualFold(name, []byte("set")):
		return parts == 3 || parts == 5
	case l == 3 && bytes.EqualFold(name, []byte("del")):
		return parts == 2
	case l == 7 && bytes.EqualFold(name, []byte("flushdb")):
		return parts == 1
	}
	return false
}

// scanInt reads a "<kind><digits>\r\n" line.
func scanInt(r *bufio.Reader, kind byte) (v, n int64, err error) {
	line, err := r.ReadSlice('\n')
	n = int64(len(line))
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, n, errors.New("overlong header line")
		}
		return 0, n, io.ErrUnexpectedEOF
	}
	if len(line) < 4 || line[0] != kind || line[len(line)-2] != '\r' || len(line) > 20 {
		return 0, n, fmt.Errorf("malformed %q line", kind)
	}
	for _, c := range line[1 : len(line)-2] {
		if c < '0' || c > '9' {
			return 0, n, fmt.Errorf("malformed %q line", kind)
		}
		v = v*10 + int64(c-'0')
	}
	return v, n, nil
}

// checkTornTail accepts the tail from pos as one torn command unless a
// command header follows in it.
func checkTornTail(f *os.File, pos, size int64) error {
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return err
	}
	const overlap = 16
	buf := make([]byte, 1<<20)
	keep := 0
	for off := pos; ; {
		n, err := f.Read(buf[keep:])
		chunk := buf[:keep+n]
		for _, h := range tornHeaders {
			if i := bytes.Index(chunk, h); i >= 0 {
				return &fileDamage{at: pos, size: size, why: fmt.Sprintf("damaged command (more commands follow at byte %d)", off-int64(keep)+int64(i)+2)}
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		off += int64(n)
		keep = min(overlap, len(chunk))
		copy(buf, chunk[len(chunk)-keep:])
	}
}
