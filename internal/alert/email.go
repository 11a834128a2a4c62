package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// SMTPConfig is the mail server e-mail notices go through.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLS is "starttls" (required before anything is sent), "tls"
	// (implicit TLS) or "none".
	TLS string
	// TLSConfig overrides the TLS settings (tests trust their own CA).
	TLSConfig *tls.Config
	Timeout   time.Duration
}

// Email sends notices over SMTP.
type Email struct{ Config SMTPConfig }

// Send implements Sender.
func (e *Email) Send(ctx context.Context, target string, m *Message) error {
	c := e.Config
	if c.Host == "" {
		return &PermanentError{Err: errors.New("SMTP_HOST is not set")}
	}
	opts := []mail.Option{mail.WithPort(c.Port), mail.WithTimeout(max(c.Timeout, 5*time.Second))}
	switch c.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	tc := c.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	}
	opts = append(opts, mail.WithTLSConfig(tc))
	if c.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(c.Username), mail.WithPassword(c.Password))
	}
	client, err := mail.NewClient(c.Host, opts...)
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("smtp client: %w", err)}
	}
	msg := mail.NewMsg()
	from := c.From
	if from == "" {
		from = "automation-hub@" + c.Host
	}
	if err := msg.From(from); err != nil {
		return &PermanentError{Err: fmt.Errorf("SMTP_FROM: %w", err)}
	}
	if err := msg.To(target); err != nil {
		return &PermanentError{Err: fmt.Errorf("recipient: %w", err)}
	}
	msg.Subject(m.Title)
	if m.ID != "" {
		// The same Message-ID on a repeated delivery lets mail systems drop it.
		msg.SetMessageIDWithValue(m.ID + "@automation-hub")
	}
	msg.SetBulk() // no out-of-office replies to the sender
	var b strings.Builder
	b.WriteString(m.Text + "\n")
	for _, l := range [][2]string{{"Robot", m.RobotURL}, {"Run", m.RunURL}, {"Alerts", m.AlertURL}} {
		if l[1] != "" {
			fmt.Fprintf(&b, "\n%s: %s", l[0], l[1])
		}
	}
	msg.SetBodyString(mail.TypeTextPlain, b.String()+"\n")
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}
