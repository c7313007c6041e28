package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// epollAvailable says that driveEpoll can run here.
const epollAvailable = true

// epollConn is one connection of driveEpoll: its socket and what has come
// of the answer it waits for.
type epollConn struct {
	fd  int
	buf []byte
}

// driveEpoll sends request over conns connections until the deadline,
// one at a time on each, from one thread that waits for every connection
// in one epoll set, as wrk does, and returns how many answers were 200.
//
// Its reads, writes and waits are raw system calls, which the runtime
// does not hear of: through package syscall's ordinary calls, a wait in
// epoll lets the runtime hand this thread's P to another thread and take
// one back after, which woke the runtime's other threads about 7 times
// every 100 requests beside this one's own waits, on the CPUs the server
// uses; the kernel charges the server for waking a client (a loopback
// write delivers its bytes in the writer's time), and the server's CPU per
// request came out 8-10% above wrk's on the same server. The thread keeps
// its P while it waits, at most 100 ms; a signal from the runtime, to stop
// the world for a collection, ends the wait early with EINTR. With a
// single P, the rest of the process runs only when the runtime preempts
// this goroutine, and a collection may wait for the drive to end.
func driveEpoll(ctx context.Context, addr string, request []byte, deadline time.Time, conns int) (int64, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, fmt.Errorf("the lean client takes an address and a port: %v", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(ep)
	cs := make([]*epollConn, 0, conns)
	defer func() {
		for _, c := range cs {
			_ = syscall.Close(c.fd)
		}
	}()
	byFD := map[int32]*epollConn{}
	for range conns {
		fd, err := dialBlocking(ap)
		if err != nil {
			return 0, err
		}
		c := &epollConn{fd: fd, buf: make([]byte, 0, 16<<10)}
		cs = append(cs, c)
		if err := syscall.SetNonblock(fd, true); err != nil {
			return 0, err
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return 0, err
		}
		byFD[int32(fd)] = c
		if err := writeAll(fd, request); err != nil {
			return 0, err
		}
	}
	events := make([]syscall.EpollEvent, conns)
	var n int64
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		ready, err := epollWait(ep, events, int(min(left, 100*time.Millisecond)/time.Millisecond)+1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		for _, ev := range events[:ready] {
			c := byFD[ev.Fd]
			done, err := c.read()
			if err != nil {
				return n, err
			}
			if !done {
				continue
			}
			n++
			if err := writeAll(c.fd, request); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// read reads what has come on c and reports whether the answer is whole;
// its bytes are then let go for the next one.
func (c *epollConn) read() (bool, error) {
	for {
		if len(c.buf) == cap(c.buf) {
			return false, errors.New("GET /v1/me: an answer larger than 16 KiB")
		}
		m, err := rawIO(syscall.SYS_READ, c.fd, c.buf[len(c.buf):cap(c.buf)])
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return false, err
		case m == 0:
			return false, errors.New("GET /v1/me: the server closed the connection")
		}
		c.buf = c.buf[:len(c.buf)+m]
		size, err := parseAnswer(c.buf)
		if err != nil || size == 0 {
			if err == nil {
				continue // read on: more may have come
			}
			return false, err
		}
		if size != len(c.buf) {
			return false, errors.New("GET /v1/me: more bytes than one answer")
		}
		c.buf = c.buf[:0]
		return true, nil
	}
}

// dialBlocking connects a TCP socket to ap, without Go's poller, and sets
// TCP_NODELAY as Go's dialer does.
func dialBlocking(ap netip.AddrPort) (int, error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	if err := syscall.Connect(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return 0, fmt.Errorf("connect %s: %v", ap, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		_ = syscall.Close(fd)
		return 0, err
	}
	return fd, nil
}

// writeAll writes b to the non-blocking socket fd; a request is far
// smaller than a socket's buffer, so it goes in one write unless the
// server has stopped reading.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		m, err := rawIO(syscall.SYS_WRITE, fd, b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return errors.New("GET /v1/me: the server does not read its requests")
		case err != nil:
			return err
		}
		b = b[m:]
	}
	return nil
}

// epollWait is epoll_wait(2) as a raw system call (see driveEpoll).
func epollWait(ep int, events []syscall.EpollEvent, msec int) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// rawIO is read(2) or write(2) of b on a non-blocking socket, as a raw
// system call (see driveEpoll); b is not empty.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
