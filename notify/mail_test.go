package notify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/notify"
	"github.com/infermeter/infermeter/notify/smtptest"
)

func TestMailWithAttachmentArrivesDecoded(t *testing.T) {
	srv := smtptest.Start(t)
	m := notify.NewMailer(config.SMTP{Host: srv.Host(), Port: srv.Port(), From: "infermeter@localhost"})
	if !m.Enabled() {
		t.Fatal("a mailer with a host is off")
	}
	csv := []byte("user_id,cost_usd\nalice,1.25\nbob,0.000975\n")
	bin := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff, '\r', '\n'}, 200)
	text := "Grüße: spend is 1.25 USD.\nSecond line = with an equals sign and a very long line that quoted-printable has to wrap somewhere past seventy-six characters.\n"
	err := m.Send(context.Background(), notify.Mail{
		To:      []string{"alice@acme.example", "bob@acme.example"},
		Subject: "Monthly report — Acme",
		Text:    text,
		Attachments: []notify.Attachment{
			{Name: "usage.csv", ContentType: "text/csv", Data: csv},
			{Name: "blob.bin", Data: bin},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(t, 1, 30*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "infermeter@localhost" || strings.Join(got.To, ",") != "alice@acme.example,bob@acme.example" {
		t.Fatalf("envelope %q → %q", got.From, got.To)
	}
	if got.Subject != "Monthly report — Acme" {
		t.Fatalf("subject %q", got.Subject)
	}
	if got.Text != text {
		t.Fatalf("text %q, want %q", got.Text, text)
	}
	if len(got.Attachments) != 2 {
		t.Fatalf("%d attachments, want 2", len(got.Attachments))
	}
	want := []notify.Attachment{
		{Name: "usage.csv", ContentType: "text/csv", Data: csv},
		{Name: "blob.bin", ContentType: "application/octet-stream", Data: bin},
	}
	for i, w := range want {
		a := got.Attachments[i]
		if a.Name != w.Name || a.ContentType != w.ContentType || !bytes.Equal(a.Data, w.Data) {
			t.Errorf("attachment %d: %q %q %d bytes, want %q %q %d bytes", i, a.Name, a.ContentType, len(a.Data), w.Name, w.ContentType, len(w.Data))
		}
	}
}

func TestMailErrors(t *testing.T) {
	off := notify.NewMailer(config.SMTP{})
	if off.Enabled() {
		t.Fatal("a mailer without a host is on")
	}
	err := off.Send(context.Background(), notify.Mail{To: []string{"a@acme.example"}, Subject: "s"})
	if !errors.Is(err, notify.ErrMailOff) {
		t.Fatalf("off: %v", err)
	}

	srv := smtptest.Start(t)
	srv.Refuse("nobody@acme.example")
	m := notify.NewMailer(config.SMTP{Host: srv.Host(), Port: srv.Port(), From: "infermeter@localhost"})
	err = m.Send(context.Background(), notify.Mail{To: []string{"nobody@acme.example"}, Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "nobody@acme.example") || !strings.Contains(err.Error(), "550") {
		t.Fatalf("refused: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages arrived, want 0", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = m.Send(ctx, notify.Mail{To: []string{"a@acme.example"}, Subject: "s", Text: "t"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
