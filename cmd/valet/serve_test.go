package main

import (
	"net"
	"testing"

	"github.com/valetauth/valet/internal/writedeadline"
)

// TestServerListen: the connections valet serve answers on keep their
// write deadline as package writedeadline does, and the floor as served
// of valet bench listens the same way.
func TestServerListen(t *testing.T) {
	ln, err := serverListen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*writedeadline.Conn); !ok {
		t.Errorf("serverListen accepted a %T, want a *writedeadline.Conn", c)
	}
}
