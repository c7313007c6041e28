package mail

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"testing"
	"time"
)

type nopOutbox struct{}

func (nopOutbox) EnqueueMail(context.Context, OutboxMessage) error { return nil }
func (nopOutbox) ClaimMail(context.Context, time.Time, time.Duration, int) ([]OutboxMessage, error) {
	return nil, nil
}
func (nopOutbox) MailSent(context.Context, string, time.Time) error { return nil }
func (nopOutbox) MailFailed(context.Context, string, Failure) error { return nil }
func (nopOutbox) MailByID(context.Context, string) (OutboxMessage, error) {
	return OutboxMessage{}, nil
}
func (nopOutbox) PendingMail(context.Context) (int, error)          { return 0, nil }
func (nopOutbox) SweepMail(context.Context, time.Time) (int, error) { return 0, nil }

func testAEAD(tb testing.TB) cipher.AEAD {
	tb.Helper()
	block, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead
}
