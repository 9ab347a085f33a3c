// Package smtptest runs an in-process SMTP server on 127.0.0.1 for tests:
// it accepts every message (except for recipients it is told to refuse)
// and keeps it, parsed, so that tests see the decoded text and
// attachments of what a Mailer sent.
package smtptest

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/infermeter/infermeter/notify"
)

// Message is one received message.
type Message struct {
	// From and To are the envelope's sender and recipients.
	From string
	To   []string
	// Subject is the decoded Subject header.
	Subject string
	// Text is the decoded text/plain body with CRLF line ends turned into
	// LF.
	Text string
	// Attachments are the decoded attachments, in order.
	Attachments []notify.Attachment
	// Raw is the message as received.
	Raw []byte
}

// Server is an in-process SMTP server. Safe for concurrent use.
type Server struct {
	srv *smtp.Server
	ln  net.Listener

	mu      sync.Mutex
	msgs    []Message
	refused map[string]bool
}

// Start starts a server on a loopback port; it stops when the test ends.
// Parse failures of a received message fail tb.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{refused: map[string]bool{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s, tb: tb}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.ErrorLog = quietLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cannot listen for the test SMTP server: %s", err)
	}
	s.ln = ln
	go func() { _ = s.srv.Serve(ln) }()
	tb.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// Host returns the server's host, 127.0.0.1.
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Refuse makes the server refuse addr as a recipient (550).
func (s *Server) Refuse(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[strings.ToLower(addr)] = true
}

// Messages returns a copy of the messages received so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait polls until at least n messages arrived and returns them all; it
// fails tb when they did not arrive within timeout (a liveness bound).
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the test SMTP server got %d messages in %s, want %d", len(msgs), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

func (s *Server) isRefused(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused[strings.ToLower(addr)]
}

// session is one SMTP conversation.
type session struct {
	s    *Server
	tb   testing.TB
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.s.isRefused(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox: " + to}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := Parse(raw)
	if err != nil {
		x.tb.Errorf("smtptest: cannot parse a received message: %s\n%s", err, raw)
		return errors.New("cannot parse the message")
	}
	m.From, m.To = x.from, append([]string(nil), x.to...)
	x.s.add(m)
	return nil
}

// quietLog drops the server's log lines (connection resets at the end of
// a test are expected).
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
