package writedeadline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a connection that records the write deadlines set on it.
type recorder struct {
	net.Conn // nil: only the methods below are called
	mu       sync.Mutex
	set      []time.Time
	writes   int
	// due is the deadline in force when each write began.
	due []time.Time
}

func (r *recorder) SetWriteDeadline(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set = append(r.set, t)
	return nil
}

func (r *recorder) SetReadDeadline(time.Time) error { return nil }

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	var cur time.Time
	if len(r.set) > 0 {
		cur = r.set[len(r.set)-1]
	}
	r.due = append(r.due, cur)
	return len(b), nil
}

func TestSetWriteDeadline(t *testing.T) {
	base := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	var zero time.Time
	type step struct {
		set   *time.Time  // a SetWriteDeadline, or a Write when nil
		after []time.Time // what it sets underneath
	}
	set := func(t time.Time, after ...time.Time) step { return step{set: &t, after: after} }
	write := func(after ...time.Time) step { return step{after: after} }
	tests := []struct {
		name  string
		steps []step
		// due: the deadline in force when each write began
		due []time.Time
	}{
		{"a first deadline is set as asked",
			[]step{set(at(30*time.Second), at(30*time.Second)), write()},
			[]time.Time{at(30 * time.Second)}},
		{"a later one is extended by the slack",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(at(31*time.Second), at(32*time.Second)), write()},
			[]time.Time{at(32 * time.Second)}},
		{"one within the slack of the one in force is not set again",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(at(31*time.Second), at(32*time.Second)), set(at(31500 * time.Millisecond)), set(at(32 * time.Second)), write()},
			[]time.Time{at(32 * time.Second)}},
		{"one the one in force would overshoot by more than the slack is set as asked",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(at(28*time.Second), at(28*time.Second)), write()},
			[]time.Time{at(28 * time.Second)}},
		{"a past deadline is set at once",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(time.Unix(1, 0), time.Unix(1, 0))},
			nil},
		{"a clear waits for the next write",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(zero), write(zero), write()},
			[]time.Time{zero, zero}},
		{"a deadline after a clear finds the old one still in force",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(zero), set(at(29500 * time.Millisecond)), write()},
			[]time.Time{at(30 * time.Second)}},
		{"a later deadline after a clear is extended",
			[]step{set(at(30*time.Second), at(30*time.Second)), set(zero), set(at(40*time.Second), at(41*time.Second)), write()},
			[]time.Time{at(41 * time.Second)}},
		{"a clear with none in force sets nothing",
			[]step{set(zero), write(), set(zero), write()},
			[]time.Time{zero, zero}},
		{"requests a second apart: one set each",
			[]step{
				set(at(30*time.Second), at(30*time.Second)), write(), set(zero),
				set(at(31*time.Second), at(32*time.Second)), write(), set(zero),
				set(at(32 * time.Second)), write(), set(zero),
				set(at(33*time.Second), at(34*time.Second)), write(), set(zero),
			},
			[]time.Time{at(30 * time.Second), at(32 * time.Second), at(32 * time.Second), at(34 * time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			c := NewConn(r)
			for i, s := range tc.steps {
				before := len(r.set)
				if s.set != nil {
					if err := c.SetWriteDeadline(*s.set); err != nil {
						t.Fatal(err)
					}
				} else if _, err := c.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
				got := r.set[before:]
				if fmt.Sprint(got) != fmt.Sprint(s.after) {
					t.Errorf("step %d: set underneath %v, want %v", i, got, s.after)
				}
			}
			if fmt.Sprint(r.due) != fmt.Sprint(tc.due) {
				t.Errorf("deadlines in force at the writes: %v, want %v", r.due, tc.due)
			}
		})
	}
}

// pair returns both ends of a TCP connection on the loopback, the first
// one wrapped, with a small send buffer so that a write soon blocks.
func pair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := Listener(ln).Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := <-accepted
	if c == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	wc := c.(*Conn)
	_ = wc.Conn.(*net.TCPConn).SetWriteBuffer(4 << 10)
	return wc, peer
}

// fill writes to c until a write fails, and returns its error.
func fill(c net.Conn) error {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

func TestDeadlineCutsABlockedWrite(t *testing.T) {
	c, _ := pair(t)
	asked := time.Now().Add(100 * time.Millisecond)
	if err := c.SetWriteDeadline(asked); err != nil {
		t.Fatal(err)
	}
	err := fill(c)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v, want a deadline exceeded", err)
	}
	if now := time.Now(); now.Before(asked) {
		t.Errorf("the write was cut before its deadline")
	}
}

func TestPastDeadlineInterruptsAWriteAtOnce(t *testing.T) {
	c, _ := pair(t)
	// A deadline far off, then one in the past while a write is blocked.
	if err := c.SetWriteDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fill(c) }()
	time.Sleep(50 * time.Millisecond)
	if err := c.SetWriteDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted write: %v, want a deadline exceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline in the past did not interrupt the blocked write")
	}
}

func TestClearedDeadlineNoLongerCuts(t *testing.T) {
	t.Run("the next write", func(t *testing.T) {
		c, peer := pair(t)
		if err := c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := c.SetWriteDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
		if _, err := c.Write([]byte("after the old deadline")); err != nil {
			t.Fatalf("a write after the deadline was cleared: %v", err)
		}
		buf := make([]byte, 64)
		n, err := peer.Read(buf)
		if err != nil || string(buf[:n]) != "after the old deadline" {
			t.Fatalf("peer read %q, %v", buf[:n], err)
		}
	})
	t.Run("a write under way", func(t *testing.T) {
		c, peer := pair(t)
		if err := c.SetWriteDeadline(time.Now().Add(150 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		const size = 2 << 20
		done := make(chan error, 1)
		go func() {
			_, err := c.Write(make([]byte, size))
			done <- err
		}()
		time.Sleep(30 * time.Millisecond)
		if err := c.SetWriteDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		// Past the cleared deadline, the write is still blocked, then
		// finishes once the peer reads.
		time.Sleep(300 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("the write ended before the peer read: %v", err)
		default:
		}
		if _, err := io.CopyN(io.Discard, peer, size); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("a write under way when its deadline was cleared: %v", err)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	c, peer := pair(t)
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				switch (g + i) % 3 {
				case 0:
					_ = c.SetWriteDeadline(time.Now().Add(time.Hour))
				case 1:
					_ = c.SetWriteDeadline(time.Time{})
				default:
					if _, err := c.Write([]byte("x")); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// Whatever the order, a clear then a write leaves no deadline.
	_ = c.SetWriteDeadline(time.Time{})
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.due != 0 || c.cleared.Load() {
		t.Errorf("after a clear and a write: due %d, cleared %v; want none", c.due, c.cleared.Load())
	}
}

func TestCloseWrite(t *testing.T) {
	c, peer := pair(t)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The peer sees the end of what was written, and can still answer.
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("peer read after CloseWrite: %d, %v; want 0, EOF", n, err)
	}
	if _, err := peer.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "after" {
		t.Fatalf("read after CloseWrite: %q, %v", buf[:n], err)
	}
	// A connection that cannot close one side says so.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := NewConn(a).CloseWrite(); err == nil {
		t.Error("CloseWrite on a pipe: no error")
	}
}

// counting is a listener whose connections count the write deadlines set
// on them underneath.
type counting struct {
	net.Listener
	mu   sync.Mutex
	sets int
}

func (l *counting) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// Small, so that an answer a client does not read soon blocks.
	_ = c.(*net.TCPConn).SetWriteBuffer(16 << 10)
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *counting
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.l.mu.Lock()
	c.l.sets++
	c.l.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// TestHTTPServer runs net/http's server with a WriteTimeout on the
// listener: keep-alive requests set the deadline underneath about once a
// Slack, not twice a request, and a client that does not read its answer
// is still cut off.
func TestHTTPServer(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &counting{Listener: raw}
	big := strings.Repeat("x", 8<<20)
	srv := &http.Server{
		WriteTimeout: 300 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				_, _ = io.WriteString(w, big)
				return
			}
			_, _ = io.WriteString(w, "ok")
		}),
	}
	go func() { _ = srv.Serve(Listener(cl)) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := raw.Addr().String()

	t.Run("keep-alive", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		const n = 200
		start := time.Now()
		for i := range n {
			fmt.Fprintf(conn, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
			}
		}
		elapsed := time.Since(start)
		cl.mu.Lock()
		sets := cl.sets
		cl.mu.Unlock()
		// One set a Slack at most, and the first.
		if limit := 2 + 2*int(elapsed/Slack); sets > limit {
			t.Errorf("%d requests in %v set the write deadline %d times underneath, want at most %d", n, elapsed, sets, limit)
		}
	})

	t.Run("a client that does not read is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		// Not reading while the write timeout and its slack pass.
		time.Sleep(srv.WriteTimeout + Slack + 500*time.Millisecond)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.Copy(io.Discard, conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server kept the connection open (%d bytes read)", got)
		}
		if got >= int64(len(big)) {
			t.Fatalf("read %d bytes: the whole answer came, the write was not cut off", got)
		}
	})
}

// BenchmarkDeadlines is what net/http does to a connection's write
// deadline for every request (set it after reading the request, clear it
// after answering), on a TCP connection and on one from Listener.
func BenchmarkDeadlines(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	for _, bc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"tcp", func(c net.Conn) net.Conn { return c }},
		{"writedeadline", func(c net.Conn) net.Conn { return NewConn(c) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			c := bc.wrap(raw)
			for b.Loop() {
				_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
				_ = c.SetWriteDeadline(time.Time{})
			}
		})
	}
}
