// Package writedeadline keeps a connection's write deadline in force for
// longer, so that it need not be set again for every request. net/http
// with a WriteTimeout sets the write deadline when it has read a request
// and clears it when it has answered: two changes to the runtime's timers
// for every request, a few percent of a small request's CPU. A connection
// from Listener leaves the deadline in force when it is cleared, clearing
// it only before the next write that would otherwise be under it, and
// keeps a deadline that is at most Slack later than the one asked for.
// So a write deadline fires no earlier than asked, and no more than Slack
// later; one asked for earlier than the one in force (a deadline in the
// past, to interrupt a write) takes effect as asked.
//
// Read deadlines are those of the connection underneath, unchanged.
package writedeadline

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Slack is how much later than asked a write deadline may fire.
const Slack = time.Second

// Listener returns ln with its connections' write deadlines kept as the
// package describes.
func Listener(ln net.Listener) net.Listener {
	return listener{ln}
}

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// Conn is a connection whose write deadline is kept as the package
// describes. Its methods may be called at once from several goroutines,
// as net.Conn's may.
type Conn struct {
	net.Conn

	mu sync.Mutex // held while the deadline in force changes
	// due is the write deadline in force underneath, in Unix nanoseconds,
	// 0 for none.
	due int64
	// cleared is set when the deadline was cleared but is still in force:
	// the next write clears it first.
	cleared atomic.Bool
	// writing counts the writes under way. A clear while one is under way
	// takes effect at once, since that write would still be under it.
	writing atomic.Int32
}

// NewConn returns c with its write deadline kept as the package describes.
func NewConn(c net.Conn) *Conn { return &Conn{Conn: c} }

// SetWriteDeadline sets the deadline for writes, as net.Conn's does,
// except that it may fire up to Slack later than t, and that a zero t
// takes effect at the next write unless one is under way.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() {
		if c.due == 0 {
			return nil
		}
		// Marked first and checked second, the reverse of a write's
		// order: either the write sees the mark or this sees the write.
		c.cleared.Store(true)
		if c.writing.Load() > 0 {
			return c.clearLocked()
		}
		return nil
	}
	c.cleared.Store(false)
	n := t.UnixNano()
	switch {
	case c.due != 0 && c.due >= n && c.due <= n+int64(Slack):
		// The deadline in force fires late enough and not too late.
		return nil
	case c.due == 0 || n < c.due:
		// An earlier deadline is kept as asked: it may be meant to cut a
		// write short now.
		c.due = n
		return c.Conn.SetWriteDeadline(t)
	default:
		// A later one is extended by the slack, so that the deadlines
		// asked for in the next Slack all fall within it.
		c.due = n + int64(Slack)
		return c.Conn.SetWriteDeadline(time.Unix(0, c.due))
	}
}

// clearLocked clears the deadline in force; c.mu is held.
func (c *Conn) clearLocked() error {
	c.cleared.Store(false)
	c.due = 0
	return c.Conn.SetWriteDeadline(time.Time{})
}

// SetDeadline sets the read deadline as the connection underneath does,
// and the write deadline as SetWriteDeadline does.
func (c *Conn) SetDeadline(t time.Time) error {
	err := c.Conn.SetReadDeadline(t)
	if werr := c.SetWriteDeadline(t); err == nil {
		err = werr
	}
	return err
}

// begin counts a write under way, and clears a deadline that was cleared
// but left in force.
func (c *Conn) begin() error {
	c.writing.Add(1)
	if c.cleared.Load() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cleared.Load() {
			if err := c.clearLocked(); err != nil {
				c.writing.Add(-1)
				return err
			}
		}
	}
	return nil
}

func (c *Conn) Write(b []byte) (int, error) {
	if err := c.begin(); err != nil {
		return 0, err
	}
	defer c.writing.Add(-1)
	return c.Conn.Write(b)
}

// CloseWrite shuts down the writing side of the connection, as net/http
// does before it closes a connection whose request it did not read whole.
// It returns an error when the connection underneath cannot (a TCP
// connection can).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("writedeadline: the connection cannot close its writing side alone")
}
