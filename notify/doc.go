// Package notify delivers what infermeter sends out: mail through the
// configured SMTP server (alerts, scheduled reports) and JSON webhooks
// with retries. Nothing here runs on the proxy's request path: callers
// deliver from their own goroutines.
package notify
