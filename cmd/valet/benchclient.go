package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// The lean client of valet bench --processes: GET /v1/me over connections
// of its own, one request at a time on each, as wrk sends them. It speaks
// just enough HTTP/1.1 for that: the request's bytes are made once, and an
// answer is read up to its Content-Length and checked for status 200, so
// that it costs the CPUs it shares with the server about what wrk does
// (net/http's client took some 20 µs a request, as much as the servers it
// measured). Unpaced on Linux, every connection is served by one thread
// waiting in epoll, as wrk's are; paced, and elsewhere, each connection is
// a goroutine.

// driveClient drives t for dur over conns connections, at most rate
// requests a second in all (no bound when rate is 0), and returns the
// req/s and the requests answered.
func driveClient(ctx context.Context, t *procTarget, dur time.Duration, conns int, rate float64) (float64, int64, error) {
	u, err := url.Parse(t.url)
	if err != nil {
		return 0, 0, err
	}
	req := "GET /v1/me HTTP/1.1\r\nHost: " + u.Host + "\r\n"
	if t.header != "" {
		req += t.header + "\r\n"
	}
	request := []byte(req + "\r\n")
	start := time.Now()
	var n int64
	if rate == 0 && epollAvailable {
		n, err = driveEpoll(ctx, u.Host, request, start.Add(dur), conns)
	} else {
		n, err = driveGoroutines(ctx, u.Host, request, start, dur, conns, rate)
	}
	if err != nil {
		return 0, 0, err
	}
	return float64(n) / time.Since(start).Seconds(), n, nil
}

// driveGoroutines is driveClient with a goroutine for each connection.
func driveGoroutines(ctx context.Context, addr string, request []byte, start time.Time, dur time.Duration, conns int, rate float64) (int64, error) {
	ctx, cancel := context.WithDeadline(ctx, start.Add(dur))
	defer cancel()
	counts := make(chan int64, conns)
	errs := make(chan error, conns)
	for w := range conns {
		go func() {
			n, err := driveConn(ctx, addr, request, start, w, conns, rate)
			if err != nil && ctx.Err() == nil {
				errs <- err
			}
			counts <- n
		}()
	}
	var total int64
	for range conns {
		total += <-counts
	}
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return total, nil
}

// driveConn is one connection of driveGoroutines: it sends request over
// and over until ctx ends, w-th of conns in the pacing at rate, and
// returns how many answers were 200.
func driveConn(ctx context.Context, addr string, request []byte, start time.Time, w, conns int, rate float64) (int64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// The deadline ends a read or a write under way when the run does.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 0, 16<<10)
	var n int64
	for ctx.Err() == nil {
		if rate > 0 {
			due := start.Add(time.Duration(float64(n*int64(conns)+int64(w)) / rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					return n, nil
				case <-time.After(wait):
				}
			}
		}
		if _, err := c.Write(request); err != nil {
			return n, err
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				return n, errors.New("GET /v1/me: an answer larger than 16 KiB")
			}
			m, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			size, perr := parseAnswer(buf)
			if perr != nil {
				return n, perr
			}
			if size > 0 {
				break
			}
			if err != nil {
				return n, err
			}
		}
		n++
	}
	return n, nil
}

var (
	http11        = []byte("HTTP/1.1 ")
	crlf          = []byte("\r\n")
	headersEnd    = []byte("\r\n\r\n")
	contentLength = []byte("Content-Length")
	connection    = []byte("Connection")
	closeToken    = []byte("close")
)

// parseAnswer reads the HTTP/1.1 answer at the start of b. It returns the
// answer's length once b holds all of it, 0 while b holds only its start,
// and an error unless it is a 200 with a Content-Length on a connection
// the server keeps open.
func parseAnswer(b []byte) (int, error) {
	head, _, ok := bytes.Cut(b, headersEnd)
	if !ok {
		// The status line is checked as soon as it has come, or enough of
		// it to tell.
		var err error
		if line, _, ok := bytes.Cut(b, crlf); ok {
			err = statusLine(line)
		} else if len(b) >= 13 {
			err = statusLine(b[:13])
		}
		return 0, err
	}
	line, headers, _ := bytes.Cut(head, crlf)
	if err := statusLine(line); err != nil {
		return 0, err
	}
	length := -1
	for len(headers) > 0 {
		var h []byte
		h, headers, _ = bytes.Cut(headers, crlf)
		k, v, ok := bytes.Cut(h, []byte(":"))
		switch {
		case !ok:
			return 0, fmt.Errorf("GET /v1/me: a header line without a colon: %q", h)
		case bytes.EqualFold(k, contentLength):
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 {
				return 0, fmt.Errorf("GET /v1/me: Content-Length %q", v)
			}
			length = n
		case bytes.EqualFold(k, connection) && bytes.EqualFold(bytes.TrimSpace(v), closeToken):
			return 0, errors.New("GET /v1/me: the server closes the connection")
		}
	}
	if length < 0 {
		return 0, errors.New("GET /v1/me: an answer without Content-Length")
	}
	if status := string(line[9:12]); status != "200" {
		return 0, fmt.Errorf("GET /v1/me: %s", status)
	}
	size := len(head) + len(headersEnd) + length
	if len(b) < size {
		return 0, nil
	}
	return size, nil
}

// statusLine checks the first line of an answer ("HTTP/1.1 200 OK"), or
// its first 13 bytes.
func statusLine(line []byte) error {
	if len(line) < 13 || !bytes.HasPrefix(line, http11) || !isDigits(line[9:12]) || line[12] != ' ' {
		return fmt.Errorf("GET /v1/me: not an HTTP/1.1 answer: %q", line)
	}
	return nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
