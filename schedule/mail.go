package schedule

import (
	"context"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/notify"
)

// MailSender returns the Send function of Options that mails a report as
// an attachment through the SMTP server of cfg, or nil when mail is off (no
// smtp.host), which turns scheduled reports off.
func MailSender(cfg config.SMTP) func(ctx context.Context, to []string, r *Report) error {
	m := notify.NewMailer(cfg)
	if !m.Enabled() {
		return nil
	}
	return func(ctx context.Context, to []string, r *Report) error {
		return m.Send(ctx, notify.Mail{
			To:          to,
			Subject:     r.Subject,
			Text:        r.Text,
			Attachments: []notify.Attachment{{Name: r.Name, ContentType: r.ContentType, Data: r.Data}},
		})
	}
}
