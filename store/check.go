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
	pos := int64(0) // start of the command being read
	for {
		n, err := scanCommand(r, size-pos)
		switch {
		case err == io.EOF && n == 0:
			return nil
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return checkTornTail(f, pos, size)
		case err != nil:
			return &fileDamage{at: pos, size: size, why: err.Error()}
		}
		pos += n
	}
}

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
			return n, fmt.Errorf("not a command (byte %#x)", c)
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
	for range parts {
		l, ln, err := scanInt(r, '$')
		n += ln
		if err != nil {
			return n, err
		}
		if l > max {
			return n, io.ErrUnexpectedEOF
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
