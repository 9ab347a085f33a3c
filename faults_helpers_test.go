package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infermeter/infermeter/config"
)

// faultServer is an upstream on 127.0.0.1 written on raw TCP, for the
// faults the simulator cannot inject: the X-Fault request header picks what
// it does with a request (see the fault* constants). Without the header it
// answers a normal OpenAI chat completion (usage faultIn/faultOut) and keeps
// the connection alive, so a request after a fault shows whether the
// proxy's connection pool recovered.
type faultServer struct {
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Faults of faultServer, as values of the X-Fault request header.
const (
	// faultReset sends a 200 with Content-Length 1000 and 100 bytes of body,
	// then resets the connection (SO_LINGER 0).
	faultReset = "reset"
	// faultResetStream sends the first two events of a chat stream, then
	// resets the connection.
	faultResetStream = "reset-stream"
	// faultHang reads the request and never answers; the connection stays
	// open until the peer closes it or the server closes.
	faultHang = "hang"
	// faultDrip sends a whole chat stream (usage and [DONE] included) one
	// byte per chunk, one every millisecond.
	faultDrip = "drip"
	// faultNoDone sends three content chunks of a chat stream and ends the
	// body cleanly: no usage chunk, no [DONE].
	faultNoDone = "no-done"
	// faultBig sends a chat completion of bigBodySize bytes whose usage
	// comes last, generated as it is written.
	faultBig = "big"
	// faultBigChunked sends the same kind of body, chunkedBodySize bytes,
	// chunked (no Content-Length).
	faultBigChunked = "big-chunked"
)

// Usage of the faultServer's normal answer, of faultDrip and of faultBig.
const (
	faultIn  = 7
	faultOut = 3
)

// Sizes of faultBig's and faultBigChunked's bodies: 100 MB, and 8 MB
// (larger than what the proxy holds whole, 4 MB).
const (
	bigBodySize     = 100 << 20
	chunkedBodySize = 8 << 20
)

func startFaultServer(t testing.TB) (*faultServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &faultServer{ln: ln, done: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.Close)
	return f, "http://" + ln.Addr().String()
}

// Close stops accepting, closes every connection and waits for the
// connection goroutines. It may be called more than once.
func (f *faultServer) Close() {
	select {
	case <-f.done:
		return
	default:
	}
	close(f.done)
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *faultServer) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.handle(c)
			f.mu.Lock()
			delete(f.conns, c)
			f.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// handle serves the requests of one connection until a fault ends it.
func (f *faultServer) handle(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
		if err != nil {
			return
		}
		if !f.answer(c, req.Header.Get("X-Fault")) {
			return
		}
	}
}

// answer writes the response of one fault; false ends the connection.
func (f *faultServer) answer(c net.Conn, fault string) bool {
	switch fault {
	case "":
		body := normalChatBody()
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return err == nil
	case faultReset:
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"+
			`{"id":"chatcmpl-fault","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`+strings.Repeat("x", 16))
		reset(c)
		return false
	case faultResetStream:
		_, _ = io.WriteString(c, sseHead)
		ev := streamEvents()
		_ = writeChunk(c, []byte(ev[0]+ev[1]))
		reset(c)
		return false
	case faultHang:
		// Wait for the peer to go away (a read returns) or the server to close.
		var one [1]byte
		_, _ = c.Read(one[:])
		return false
	case faultDrip:
		if _, err := io.WriteString(c, sseHead); err != nil {
			return false
		}
		stream := strings.Join(streamEvents(), "")
		for i := 0; i < len(stream); i++ {
			select {
			case <-f.done:
				return false
			case <-time.After(time.Millisecond):
			}
			if writeChunk(c, []byte{stream[i]}) != nil {
				return false
			}
		}
		_, err := io.WriteString(c, "0\r\n\r\n")
		return err == nil
	case faultNoDone:
		if _, err := io.WriteString(c, sseHead); err != nil {
			return false
		}
		ev := streamEvents()
		for _, e := range ev[:4] {
			if writeChunk(c, []byte(e)) != nil {
				return false
			}
		}
		_, err := io.WriteString(c, "0\r\n\r\n")
		return err == nil
	case faultBig:
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", bigBodySize); err != nil {
			return false
		}
		return writeBigBody(c, bigBodySize) == nil
	case faultBigChunked:
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
			return false
		}
		if writeBigBody(chunkWriter{c}, chunkedBodySize) != nil {
			return false
		}
		_, err := io.WriteString(c, "0\r\n\r\n")
		return err == nil
	}
	_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	return false
}

// sseHead is the status line and headers of faultServer's streams.
const sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"

// chunkWriter writes each Write as one HTTP chunk.
type chunkWriter struct{ c net.Conn }

func (w chunkWriter) Write(p []byte) (int, error) {
	if err := writeChunk(w.c, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func writeChunk(c net.Conn, b []byte) error {
	_, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(b), b)
	return err
}

// reset closes c with SO_LINGER 0: the peer gets a TCP RST.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func normalChatBody() string {
	return `{"id":"chatcmpl-fault","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":` + strconv.Itoa(faultIn) + `,"completion_tokens":` + strconv.Itoa(faultOut) +
		`,"total_tokens":` + strconv.Itoa(faultIn+faultOut) + `}}`
}

// streamEvents is faultServer's chat stream, event by event: role, three
// words, finish, usage, [DONE] (the client asks for include_usage, so the
// proxy forwards every event).
func streamEvents() []string {
	chunk := func(choices string, usage string) string {
		return `data: {"id":"chatcmpl-fault","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[` +
			choices + `],"usage":` + usage + "}\n\n"
	}
	word := func(w string) string {
		return chunk(`{"index":0,"delta":{"content":"`+w+`"},"finish_reason":null}`, "null")
	}
	return []string{
		chunk(`{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}`, "null"),
		word("alpha "), word("beta "), word("gamma"),
		chunk(`{"index":0,"delta":{},"finish_reason":"stop"}`, "null"),
		chunk("", `{"prompt_tokens":`+strconv.Itoa(faultIn)+`,"completion_tokens":`+strconv.Itoa(faultOut)+
			`,"total_tokens":`+strconv.Itoa(faultIn+faultOut)+`}`),
		"data: [DONE]\n\n",
	}
}

// Parts of faultBig's body: head, filler up to bigBodySize, tail.
const (
	bigHead = `{"id":"chatcmpl-big","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"`
	bigTail = `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`
)

// writeBigBody writes a big body of size bytes to w from one small buffer.
func writeBigBody(w io.Writer, size int) error {
	if _, err := io.WriteString(w, bigHead); err != nil {
		return err
	}
	filler := bytes.Repeat([]byte("lorem ipsum "), 2731) // 32772 bytes
	left := size - len(bigHead) - len(bigTail)
	for left > 0 {
		n := min(left, len(filler))
		if _, err := w.Write(filler[:n]); err != nil {
			return err
		}
		left -= n
	}
	_, err := io.WriteString(w, bigTail)
	return err
}

// bigBodyDigest is the SHA-256 of writeBigBody's body of size bytes.
func bigBodyDigest(size int) []byte {
	h := sha256.New()
	_ = writeBigBody(h, size)
	return h.Sum(nil)
}

// countingHash counts and hashes what is written to it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// simVolatile matches the parts of a simulator answer that change between
// two identical requests: sequence ids and timestamps.
var simVolatile = regexp.MustCompile(`sim[0-9]+|"(created|created_at|completed_at)":[0-9]+`)

// normalizeSim replaces the volatile parts of a simulator answer.
func normalizeSim(b []byte) string {
	return simVolatile.ReplaceAllStringFunc(string(b), func(m string) string {
		if strings.HasPrefix(m, "sim") {
			return "simN"
		}
		return m[:strings.IndexByte(m, ':')+1] + "0"
	})
}

// faultConfig is testConfig with two more upstreams of dialect openai,
// "faults" at faultBase and "dead" at deadBase (nothing listens there), and
// the given upstream_timeout.
func faultConfig(t testing.TB, simBase, faultBase, deadBase, dataDir string, timeout time.Duration) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`
proxy_listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
data_dir: %q
flush_interval: "50ms"
shutdown_timeout: "10s"
upstream_timeout: %q
upstreams:
  - {name: openai, dialect: openai, base_url: %q, api_key: "${OK}"}
  - {name: anthropic, dialect: anthropic, base_url: %q, api_key: "${AK}"}
  - {name: gemini, dialect: gemini, base_url: %q, api_key: "${GK}"}
  - {name: faults, dialect: openai, base_url: %q, api_key: "${OK}"}
  - {name: dead, dialect: openai, base_url: %q, api_key: "${OK}"}
orgs:
  - id: acme
    name: Acme
    members:
      - {id: alice, email: alice@acme.example, department: research, role: admin, billing_mode: org_pays, api_key: %q}
`, dataDir, timeout.String(), simBase, simBase, simBase, faultBase, deadBase, keyAlice)
	return loadTestYAML(t, y)
}
