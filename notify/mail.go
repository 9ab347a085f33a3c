package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/infermeter/infermeter/config"
)

// ErrMailOff is returned by Send when no SMTP server is configured.
var ErrMailOff = errors.New("mail is off: smtp.host is not configured")

// defaultSMTPPort is the submission port used when the config has none.
const defaultSMTPPort = 587

// mailTimeout bounds one SMTP conversation when the context has no
// earlier deadline.
const mailTimeout = 30 * time.Second

// Attachment is one file attached to a mail.
type Attachment struct {
	// Name is the file name the recipient sees.
	Name string
	// ContentType is the MIME type, such as "text/csv"; "" is
	// application/octet-stream.
	ContentType string
	// Data is the content; it is sent base64-encoded.
	Data []byte
}

// Mail is one message to send.
type Mail struct {
	// To are the recipients' addresses; at least one.
	To []string
	// Subject is the subject line (UTF-8).
	Subject string
	// Text is the plain-text body (UTF-8).
	Text string
	// Attachments are sent as parts of a multipart/mixed message.
	Attachments []Attachment
}

// Mailer sends mail through one SMTP server, with opportunistic STARTTLS,
// and SMTP AUTH only when a username is configured. Each Send opens its own
// connection, so a Mailer is safe for concurrent use. A nil Mailer is off.
type Mailer struct {
	cfg config.SMTP
}

// NewMailer returns a Mailer for cfg; mail is off when cfg.Host is empty.
func NewMailer(cfg config.SMTP) *Mailer {
	if cfg.Port == 0 {
		cfg.Port = defaultSMTPPort
	}
	return &Mailer{cfg: cfg}
}

// Enabled reports whether an SMTP server is configured.
func (m *Mailer) Enabled() bool { return m != nil && m.cfg.Host != "" }

// Send delivers msg, blocking until the server accepted it or refused it.
// It returns ErrMailOff (wrapped) when mail is off, the server's refusal
// otherwise, and wraps ctx's error when ctx ended first.
func (m *Mailer) Send(ctx context.Context, msg Mail) error {
	to := strings.Join(msg.To, ", ")
	if !m.Enabled() {
		return fmt.Errorf("cannot send mail %q to %q: %w", msg.Subject, to, ErrMailOff)
	}
	if len(msg.To) == 0 {
		return fmt.Errorf("cannot send mail %q: no recipients", msg.Subject)
	}
	gm, err := m.build(msg)
	if err != nil {
		return fmt.Errorf("cannot build mail %q to %q: %w", msg.Subject, to, err)
	}
	timeout := mailTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	opts := []gomail.Option{
		gomail.WithPort(m.cfg.Port),
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
		gomail.WithTimeout(timeout),
	}
	if m.cfg.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username),
			gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("cannot set up the SMTP client of %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	if err := c.DialAndSendWithContext(ctx, gm); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("cannot send mail %q to %q through %s:%d: %w", msg.Subject, to, m.cfg.Host, m.cfg.Port, errors.Join(cerr, err))
		}
		return fmt.Errorf("cannot send mail %q to %q through %s:%d: %w", msg.Subject, to, m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}

// build turns msg into a go-mail message.
func (m *Mailer) build(msg Mail) (*gomail.Msg, error) {
	gm := gomail.NewMsg()
	if err := gm.From(m.cfg.From); err != nil {
		return nil, fmt.Errorf("cannot use smtp.from %q: %w", m.cfg.From, err)
	}
	if err := gm.To(msg.To...); err != nil {
		return nil, fmt.Errorf("cannot use the recipients: %w", err)
	}
	gm.Subject(msg.Subject)
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	for _, a := range msg.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		err := gm.AttachReader(a.Name, bytes.NewReader(a.Data),
			gomail.WithFileContentType(gomail.ContentType(ct)),
			gomail.WithFileEncoding(gomail.EncodingB64))
		if err != nil {
			return nil, fmt.Errorf("cannot attach %q: %w", a.Name, err)
		}
	}
	return gm, nil
}
