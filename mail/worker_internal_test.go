package mail

import (
	"testing"
	"time"
)

// TestBackoff: the first retry comes within 10s, each wait doubles, and
// none is longer than MaxRetryDelay.
func TestBackoff(t *testing.T) {
	w := NewWorker(Config{Outbox: nopOutbox{}, Sender: LogSender{}})
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, d := range want {
		if got := w.backoff(i + 1); got != d {
			t.Errorf("backoff after failure %d = %v, want %v", i+1, got, d)
		}
	}
	if got := w.backoff(1000); got != 10*time.Minute {
		t.Errorf("backoff after failure 1000 = %v, want the cap", got)
	}
	// The defaults keep a day's outage from killing mail: 12 tries take
	// well under a day, so GiveUpAfter decides.
	var total time.Duration
	for i := 1; i < w.cfg.MinAttempts; i++ {
		total += w.backoff(i)
	}
	if total >= w.cfg.GiveUpAfter {
		t.Errorf("MinAttempts tries take %v, more than GiveUpAfter %v", total, w.cfg.GiveUpAfter)
	}
	if w.cfg.Lease < time.Duration(w.cfg.Batch)*w.cfg.SendTimeout {
		t.Errorf("the default lease %v is shorter than a batch may take (%d × %v)", w.cfg.Lease, w.cfg.Batch, w.cfg.SendTimeout)
	}
}

func TestBodyRoundTrip(t *testing.T) {
	m := Message{ID: "id1", Kind: KindTest, To: "a@example.com", Subject: "S", Text: "T\n", HTML: "<p>H</p>"}
	for _, sealed := range []bool{false, true} {
		var w *Worker
		if sealed {
			w = NewWorker(Config{Outbox: nopOutbox{}, Sender: LogSender{}, Seal: testAEAD(t)})
		} else {
			w = NewWorker(Config{Outbox: nopOutbox{}, Sender: LogSender{}})
		}
		om, err := w.Prepare(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeBody(om, w.cfg.Seal)
		if err != nil || got != m {
			t.Errorf("sealed %t: decodeBody = %+v, %v; want %+v", sealed, got, err, m)
		}
		// Another message's id does not open this body.
		om.ID = "id2"
		if _, err := decodeBody(om, w.cfg.Seal); sealed && err == nil {
			t.Error("a sealed body opened under another message's id")
		}
	}
	for _, b := range [][]byte{nil, {9, 1, 2}, {bodySealed, 1}, {bodyPlain, '{'}} {
		if _, err := decodeBody(OutboxMessage{ID: "x", Body: b}, testAEAD(t)); err == nil {
			t.Errorf("decodeBody(%v) succeeded", b)
		}
	}
}
