package mailmetrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/mail/mailmetrics"
	"github.com/valetauth/valet/store/memory"
)

// flaky refuses the recipients it is told to, for good or for now.
type flaky struct{}

func (flaky) Send(_ context.Context, m mail.Message) error {
	switch m.To {
	case "gone@example.com":
		return &mail.SendError{Stage: "rcpt to", Code: 550, Text: "5.1.1 no such user", Permanent: true}
	case "busy@example.com":
		return &mail.SendError{Stage: "rcpt to", Code: 451, Text: "4.3.0 busy"}
	}
	return nil
}

func TestRegister(t *testing.T) {
	w := mail.NewWorker(mail.Config{Outbox: memory.New(), Sender: flaky{}, Logger: slog.New(slog.DiscardHandler),
		Poll: 10 * time.Millisecond, FirstRetry: time.Hour})
	reg := prometheus.NewPedanticRegistry()
	if err := mailmetrics.Register(reg, w); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"a@example.com", "b@example.com", "gone@example.com", "busy@example.com"} {
		if _, err := w.Enqueue(t.Context(), mail.Message{Kind: mail.KindTest, To: to, Subject: "x", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for st := w.Stats(); st.Sent+st.Dead < 3 || st.Failures < 2 || st.Pending != 1; st = w.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v after 10s", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := map[string]float64{
		"valet_mail_sent_total": 2, "valet_mail_failures_total": 2, "valet_mail_dead_total": 1, "valet_mail_outbox_pending": 1,
	}
	if got := gather(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the registry holds %v, want %v", got, want)
	}
	if err := mailmetrics.Register(reg, w); err == nil {
		t.Error("a second Register on the same registry succeeded")
	}
	var are prometheus.AlreadyRegisteredError
	if err := mailmetrics.Register(reg, w); !errors.As(err, &are) {
		t.Errorf("a second Register = %v, want prometheus.AlreadyRegisteredError", err)
	}
	if got := gather(t, reg); len(got) != 4 {
		t.Errorf("after the refused Register the registry holds %v, want the 4 series", got)
	}
}

// gather returns each series' name and value, with its help and type
// checked.
func gather(tb testing.TB, reg *prometheus.Registry) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetHelp() == "" || len(mf.GetMetric()) != 1 {
			tb.Errorf("%s: help %q, %d series", mf.GetName(), mf.GetHelp(), len(mf.GetMetric()))
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case strings.HasSuffix(mf.GetName(), "_total") && m.GetCounter() != nil:
			out[mf.GetName()] = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			out[mf.GetName()] = m.GetGauge().GetValue()
		default:
			tb.Errorf("%s is of type %s", mf.GetName(), mf.GetType())
		}
	}
	return out
}
