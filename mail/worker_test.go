package mail_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testenv"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/mail/smtp"
	"github.com/valetauth/valet/mail/smtptest"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/store/postgres"
)

// logs is a JSON log that tests read back.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// about returns the lines that name message id, as level and message.
func (l *logs) about(tb testing.TB, id string) []string {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if rec["id"] == id {
			out = append(out, fmt.Sprintf("%s %s %s", rec["level"], rec["msg"], rec["err"]))
		}
	}
	return out
}

// atLeast keeps the lines of level WARN or above.
func atLeast(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "DEBUG") && !strings.HasPrefix(l, "INFO") {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing tb after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newSMTP returns a sender to srv over plain SMTP (?insecure), for tests
// of the worker rather than of TLS.
func newSMTP(tb testing.TB, srv *smtptest.Server) *smtp.Sender {
	tb.Helper()
	u, err := smtp.ParseURL("smtp://" + srv.Addr + "?insecure")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := smtp.New(smtp.Config{URL: u, From: "valet <no-reply@example.com>", Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fastConfig is a worker's config with waits short enough for a test.
func fastConfig(o mail.Outbox, s mail.Sender, log *slog.Logger) mail.Config {
	return mail.Config{
		Outbox: o, Sender: s, Logger: log,
		Poll: 10 * time.Millisecond, FirstRetry: 20 * time.Millisecond, MaxRetryDelay: 80 * time.Millisecond,
		SendTimeout: 5 * time.Second,
	}
}

func startWorker(tb testing.TB, cfg mail.Config) *mail.Worker {
	tb.Helper()
	w := mail.NewWorker(cfg)
	if err := w.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = w.Close() })
	return w
}

func enqueue(tb testing.TB, w *mail.Worker, to string) string {
	tb.Helper()
	id, err := w.Enqueue(tb.Context(), mail.Message{Kind: mail.KindTest, To: to, Subject: "Test " + to, Text: "Hello " + to + ".\n"})
	if err != nil {
		tb.Fatalf("Enqueue: %v", err)
	}
	return id
}

// byMessageID counts the received messages by the id in their Message-ID.
func byMessageID(msgs []smtptest.Received) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		id, _, _ := strings.Cut(strings.Trim(m.Header.Get("Message-Id"), "<>"), "@")
		out[id]++
	}
	return out
}

func TestWorkerDelivers(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{})
	store := memory.New()
	var log logs
	w := startWorker(t, fastConfig(store, newSMTP(t, srv), log.logger()))
	ts := loadBuiltin(t)
	m, err := ts.Render(mail.KindVerify, mail.Data{Site: "Shop", Email: "ada@example.com", Link: "https://auth.example.com/verify?token=t1", Code: "482913"})
	if err != nil {
		t.Fatal(err)
	}
	m.To = "Ada <ada@example.com>"
	id, err := w.Enqueue(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 10*time.Second)[0]
	if got.Header.Get("Subject") != "Confirm your email address for Shop" || !strings.Contains(got.Text, "482913") ||
		!strings.Contains(got.HTML, "token=t1") || got.To[0] != "ada@example.com" {
		t.Errorf("received %+v, want the rendered message", got)
	}
	waitFor(t, 5*time.Second, "the outbox to record the message sent", func() bool {
		om, err := store.MailByID(t.Context(), id)
		return err == nil && om.State == mail.StateSent && om.Body == nil
	})
	waitFor(t, 5*time.Second, "the pending count to be 0", func() bool { return w.Stats().Pending == 0 })
	if st := w.Stats(); st.Sent != 1 || st.Failures != 0 || st.Dead != 0 {
		t.Errorf("Stats = %+v, want 1 sent", st)
	}
	if lines := log.about(t, id); len(lines) != 0 {
		t.Errorf("a message sent at the first try was logged: %q", lines)
	}
}

// TestWorkerOutageLosesNothing: while the SMTP server is down every message
// fails and is retried, each logged once; when it comes back every message
// is delivered, once.
func TestWorkerOutageLosesNothing(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{})
	srv.Stop()
	store := memory.New()
	var log logs
	w := startWorker(t, fastConfig(store, newSMTP(t, srv), log.logger()))
	const n = 5
	var ids []string
	for i := range n {
		ids = append(ids, enqueue(t, w, fmt.Sprintf("user%d@example.com", i)))
	}
	// Every message fails, and is tried again, while the server is down.
	waitFor(t, 10*time.Second, "three failed tries of each message", func() bool { return w.Stats().Failures >= 3*n })
	for _, id := range ids {
		om, err := store.MailByID(t.Context(), id)
		if err != nil || om.State != mail.StatePending || om.Attempts < 2 || !strings.Contains(om.LastError, "connection refused") {
			t.Fatalf("during the outage the outbox holds %+v, %v; want it pending, tried, with the failure", om, err)
		}
	}
	srv.Start()
	got := byMessageID(srv.Wait(t, n, 10*time.Second))
	waitFor(t, 5*time.Second, "every message recorded as sent", func() bool { return w.Stats().Sent == n })
	// Nothing more arrives: each was sent once.
	time.Sleep(100 * time.Millisecond)
	if len(srv.Messages()) != n {
		t.Errorf("%d messages arrived, want %d", len(srv.Messages()), n)
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("message %.8s… arrived %d times, want once", id, got[id])
		}
		lines := log.about(t, id)
		if warn := atLeast(lines); len(warn) != 1 || !strings.HasPrefix(warn[0], "WARN") || !strings.Contains(warn[0], "connection refused") {
			t.Errorf("message %.8s… was logged at WARN or above %q; want one WARN with the failure", id, warn)
		}
		if !strings.Contains(strings.Join(lines, "\n"), "INFO mail: a message that had failed is sent") {
			t.Errorf("message %.8s…: no line says that it was sent at last: %q", id, lines)
		}
	}
	if st := w.Stats(); st.Dead != 0 {
		t.Errorf("Stats = %+v: a message died in an outage shorter than GiveUpAfter", st)
	}
}

// TestWorkerPermanentFailure: a recipient the server refuses with 550 is
// given up at once, logged once with the server's answer, and counted; the
// other messages go on.
func TestWorkerPermanentFailure(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Refuse: func(step, arg string) *smtptest.Reply {
		if step == "rcpt" && arg == "gone@example.com" {
			return &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user here"}
		}
		return nil
	}})
	store := memory.New()
	var log logs
	w := startWorker(t, fastConfig(store, newSMTP(t, srv), log.logger()))
	gone := enqueue(t, w, "gone@example.com")
	ok := enqueue(t, w, "ok@example.com")
	waitFor(t, 10*time.Second, "the refused message to die", func() bool { return w.Stats().Dead == 1 })
	srv.Wait(t, 1, 10*time.Second)
	om, err := store.MailByID(t.Context(), gone)
	if err != nil || om.State != mail.StateDead || om.Body != nil || !strings.Contains(om.LastError, "550 5.1.1 no such user here") {
		t.Errorf("the outbox holds %+v, %v; want it dead, its body dropped, with the server's answer", om, err)
	}
	lines := log.about(t, gone)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ERROR") || !strings.Contains(lines[0], "refused for good") ||
		!strings.Contains(lines[0], "rcpt to: the server answered 550 5.1.1 no such user here") {
		t.Errorf("the refused message was logged %q; want one ERROR line with the server's answer", lines)
	}
	if lines := log.about(t, ok); len(lines) != 0 {
		t.Errorf("the good message was logged %q", lines)
	}
	time.Sleep(50 * time.Millisecond)
	if st := w.Stats(); st.Dead != 1 || st.Failures != 1 || st.Sent != 1 {
		t.Errorf("Stats = %+v, want 1 sent, 1 failure, 1 dead", st)
	}
}

// TestWorkerGivesUp: a message that keeps failing with a temporary answer
// dies at the bound, logged once when it first fails and once when it
// dies.
func TestWorkerGivesUp(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Refuse: func(step, _ string) *smtptest.Reply {
		if step == "rcpt" {
			return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "mailbox busy"}
		}
		return nil
	}})
	store := memory.New()
	var log logs
	cfg := fastConfig(store, newSMTP(t, srv), log.logger())
	cfg.MinAttempts, cfg.GiveUpAfter = 3, time.Nanosecond
	w := startWorker(t, cfg)
	id := enqueue(t, w, "busy@example.com")
	waitFor(t, 10*time.Second, "the message to die", func() bool { return w.Stats().Dead == 1 })
	if st := w.Stats(); st.Failures != 3 {
		t.Errorf("Stats = %+v, want 3 failures (MinAttempts) before it died", st)
	}
	lines := log.about(t, id)
	warn := atLeast(lines)
	if len(warn) != 2 || !strings.HasPrefix(warn[0], "WARN") || !strings.HasPrefix(warn[1], "ERROR") ||
		!strings.Contains(warn[1], "failed for too long") || !strings.Contains(warn[0], "451 4.3.0 mailbox busy") {
		t.Errorf("logged at WARN or above %q; want one WARN at the first failure and one ERROR when it died", warn)
	}
	if len(lines) != 3 {
		t.Errorf("logged %q; want the retry between at DEBUG", lines)
	}
}

// TestWorkersTwoNodes: two workers on one memory store, each enqueuing
// half, send every message once.
func TestWorkersTwoNodes(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{})
	store := memory.New()
	testTwoNodes(t, srv, store, store)
}

// TestWorkersTwoNodesPostgres: the same with two connection pools, as two
// nodes have, on one Postgres schema.
func TestWorkersTwoNodesPostgres(t *testing.T) {
	u := pgSchema(t)
	var dbs [2]*postgres.DB
	for i := range dbs {
		db, err := postgres.Open(t.Context(), u, postgres.Config{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		dbs[i] = db
	}
	srv := smtptest.NewServer(t, smtptest.Options{})
	testTwoNodes(t, srv, dbs[0], dbs[1])
}

func testTwoNodes(t *testing.T, srv *smtptest.Server, a, b mail.Outbox) {
	var log logs
	cfg := fastConfig(a, newSMTP(t, srv), log.logger())
	cfg.Batch = 2
	w1 := startWorker(t, cfg)
	cfg.Outbox = b
	w2 := startWorker(t, cfg)
	const n = 40
	want := map[string]bool{}
	for i := range n {
		w := w1
		if i%2 == 1 {
			w = w2
		}
		want[enqueue(t, w, fmt.Sprintf("user%d@example.com", i))] = true
	}
	srv.Wait(t, n, 20*time.Second)
	waitFor(t, 5*time.Second, "every message recorded as sent", func() bool { return w1.Stats().Sent+w2.Stats().Sent == n })
	time.Sleep(100 * time.Millisecond)
	got := byMessageID(srv.Messages())
	if len(srv.Messages()) != n {
		t.Errorf("%d messages arrived, want %d", len(srv.Messages()), n)
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("message %.8s… arrived %d times, want once", id, got[id])
		}
	}
	t.Logf("sent by each node: %d, %d", w1.Stats().Sent, w2.Stats().Sent)
}

// pgSchema returns the URL of a fresh Postgres schema, dropped when tb ends.
func pgSchema(tb testing.TB) string {
	tb.Helper()
	base := testenv.URL(tb, testenv.Postgres)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := "valet_mail_" + hex.EncodeToString(b[:])
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{schema}.Sanitize()
	if err := admin("CREATE SCHEMA " + ident); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := admin("DROP SCHEMA " + ident + " CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func newAEAD(tb testing.TB) cipher.AEAD {
	tb.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead
}

// TestWorkerSeals: with a key, the outbox holds no link or code in clear;
// a node with another key cannot read the message, and gives it up.
func TestWorkerSeals(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{})
	store := memory.New()
	var log logs
	cfg := fastConfig(store, newSMTP(t, srv), log.logger())
	cfg.Seal = newAEAD(t)
	w := mail.NewWorker(cfg)
	const code = "739164"
	id, err := w.Enqueue(t.Context(), mail.Message{Kind: mail.KindRecovery, To: "ada@example.com",
		Subject: "Set a new password", Text: "Enter " + code + ".\n", HTML: "<p>" + code + "</p>"})
	if err != nil {
		t.Fatal(err)
	}
	om, err := store.MailByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(om.Body, []byte(code)) || bytes.Contains(om.Body, []byte("Set a new password")) {
		t.Fatal("the outbox holds the code or the subject in clear")
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if got := srv.Wait(t, 1, 10*time.Second)[0]; !strings.Contains(got.Text, code) {
		t.Errorf("the message arrived without its code: %q", got.Text)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// A node with another key cannot read the message: it fails there, is
	// retried (a node with the right key could send it), and dies only at
	// the bound, logged when it first fails and when it dies.
	other := cfg
	other.Seal = newAEAD(t)
	other.MinAttempts, other.GiveUpAfter = 2, time.Nanosecond
	id = enqueue(t, w, "eve@example.com")
	w2 := startWorker(t, other)
	waitFor(t, 10*time.Second, "the unreadable message to die", func() bool { return w2.Stats().Dead == 1 })
	lines := atLeast(log.about(t, id))
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "WARN") || !strings.HasPrefix(lines[1], "ERROR") ||
		!strings.Contains(lines[0], "sealed with another key") {
		t.Errorf("the unreadable message was logged %q, want a WARN that says why and an ERROR when it died", lines)
	}
	if w2.Stats().Failures != 2 {
		t.Errorf("Stats = %+v, want 2 failures before it died", w2.Stats())
	}
}

func TestWorkerLifecycle(t *testing.T) {
	w := mail.NewWorker(mail.Config{Outbox: memory.New(), Sender: mail.LogSender{Logger: slog.New(slog.DiscardHandler)}})
	if err := w.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	for _, cfg := range []mail.Config{{Sender: mail.LogSender{}}, {Outbox: memory.New()}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "mail: ") {
					t.Errorf("NewWorker(%+v) did not panic with the package's name: %v", cfg, r)
				}
			}()
			mail.NewWorker(cfg)
		}()
	}
}

func TestEnqueueRefusesInvalid(t *testing.T) {
	store := memory.New()
	w := mail.NewWorker(mail.Config{Outbox: store, Sender: mail.LogSender{}})
	_, err := w.Enqueue(t.Context(), mail.Message{Kind: mail.KindTest, To: "a@example.com\r\nBcc: eve@example.com", Subject: "x", Text: "x"})
	if !errors.Is(err, valet.ErrInvalidEmail) {
		t.Errorf("Enqueue of a recipient with CRLF = %v, want ErrInvalidEmail", err)
	}
	if n, _ := store.PendingMail(t.Context()); n != 0 {
		t.Errorf("the refused message was stored (%d pending)", n)
	}
}
