package mail

import (
	"context"
	"log/slog"
)

// LogSender writes each message to a log instead of sending it, for a
// server with no SMTP server to send through, such as one on a laptop. It
// logs at WARN, saying that mail is not being sent, and includes the
// recipient, the subject and the text body with its links and codes, which
// is the point: the person at the laptop reads them there. Use it only
// where the log is read by no one but the recipients. Send fails only for
// a message that Validate refuses.
type LogSender struct {
	// Logger receives the messages; default slog.Default().
	Logger *slog.Logger
}

// Send logs m.
func (s LogSender) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return &SendError{Stage: "message", Text: err.Error(), Permanent: true}
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	log.LogAttrs(ctx, slog.LevelWarn, "mail is not being sent: no SMTP server is configured, so the message is written here instead",
		slog.String("id", m.ID), slog.String("kind", string(m.Kind)), slog.String("to", m.To),
		slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}
