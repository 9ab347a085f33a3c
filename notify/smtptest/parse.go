package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"

	"github.com/infermeter/infermeter/notify"
)

// Parse decodes a raw RFC 5322 message: the subject, the first text/plain
// part that is not an attachment, and every attachment, with their
// transfer encodings (quoted-printable, base64) undone. The envelope
// fields of the result are empty.
func Parse(raw []byte) (Message, error) {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, fmt.Errorf("cannot read the message: %w", err)
	}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return m, fmt.Errorf("cannot decode the subject: %w", err)
	}
	err = walk(&m, textproto.MIMEHeader(msg.Header), msg.Body)
	return m, err
}

// walk reads one MIME entity (recursively for multipart ones) into m.
func walk(m *Message, h textproto.MIMEHeader, body io.Reader) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("cannot parse content type %q: %w", ct, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("cannot read a part of %s: %w", media, err)
			}
			if err := walk(m, p.Header, p); err != nil {
				return err
			}
		}
	}
	data, err := decode(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	name := params["name"]
	if d := h.Get("Content-Disposition"); d != "" {
		disp, dp, err := mime.ParseMediaType(d)
		if err != nil {
			return fmt.Errorf("cannot parse content disposition %q: %w", d, err)
		}
		if dp["filename"] != "" {
			name = dp["filename"]
		}
		if disp == "attachment" && name == "" {
			name = "attachment"
		}
	}
	if name == "" && media == "text/plain" {
		if m.Text == "" {
			m.Text = strings.ReplaceAll(string(data), "\r\n", "\n")
		}
		return nil
	}
	m.Attachments = append(m.Attachments, notify.Attachment{Name: name, ContentType: media, Data: data})
	return nil
}

// decode undoes a Content-Transfer-Encoding.
func decode(enc string, r io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // it skips CR and LF
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cannot decode %s content: %w", enc, err)
	}
	return b, nil
}
