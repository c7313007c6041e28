package loadtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// credential is what a client presents: one header.
type credential struct {
	header string // "Cookie" or "Authorization"
	value  string
}

// countingConn counts the bytes a client writes: its request lines, headers
// and bodies, not TCP's own.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// newClient returns a keep-alive client for conc workers whose written bytes
// are added to sent.
func newClient(conc int, sent *atomic.Int64) (*http.Client, func()) {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, n: sent}, nil
		},
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return c, tr.CloseIdleConnections
}

// round is what one target did in one round.
type round struct {
	requests int64
	errors   int64 // answers other than 200, and failed requests
	elapsed  time.Duration
	// cpu is the CPU time the whole process used meanwhile: the clients
	// and, for in-process targets, the server.
	cpu  time.Duration
	sent int64
	lat  []time.Duration
}

// driveGet sends GET url from conc workers for d (or until max requests in
// all), each worker presenting creds[i%len(creds)], and times every answer.
func driveGet(ctx context.Context, url string, creds []credential, conc int, d time.Duration, max int64) round {
	var sent atomic.Int64
	client, closeIdle := newClient(conc, &sent)
	defer closeIdle()
	return drive(ctx, conc, d, max, &sent, func(i int) func() (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return func() (int, error) { return 0, err }
		}
		if len(creds) > 0 {
			c := creds[i%len(creds)]
			req.Header.Set(c.header, c.value)
		}
		return func() (int, error) {
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
	})
}

// drive runs conc workers for d, or until max calls in all. newCall gives
// worker i the function that makes one request and returns its status.
func drive(ctx context.Context, conc int, d time.Duration, max int64, sent *atomic.Int64, newCall func(i int) func() (int, error)) round {
	var (
		count  atomic.Int64
		errs   atomic.Int64
		mu     sync.Mutex
		all    []time.Duration
		wg     sync.WaitGroup
		start  = time.Now()
		end    = start.Add(d)
		before = sent.Load()
		cpu0   = CPUTime()
	)
	for i := range conc {
		call := newCall(i)
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) || count.Add(1) > max {
					break
				}
				status, err := call()
				lat = append(lat, time.Since(t0))
				if err != nil || status != http.StatusOK {
					errs.Add(1)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return round{
		requests: int64(len(all)),
		errors:   errs.Load(),
		elapsed:  time.Since(start),
		cpu:      CPUTime() - cpu0,
		sent:     sent.Load() - before,
		lat:      all,
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median returns the median of xs, or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
