// Command scs-server is the smallest server a user of alexedwards/scs v2
// would write to answer GET /v1/me: scs's memstore, its LoadAndSave
// middleware, and a handler that reads user_id from the session. It is a
// baseline for `valet bench --processes --compare`, which starts it, logs in
// and drives it beside valet.
//
//	scs-server --addr 127.0.0.1:0 --body me.json
//
// POST /login puts a new user id in a new session and answers with its
// cookie; it checks no password, since only GET /v1/me is measured. GET
// /v1/me answers 401 without a session holding a user id, else 200 with the
// bytes of --body as JSON. Once listening it prints one line,
// "scs-server: listening on http://ADDR", on standard output.
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/alexedwards/scs/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on this address")
	bodyFile := flag.String("body", "", "answer GET /v1/me with the bytes of this JSON `FILE` (required)")
	flag.Parse()
	if err := run(*addr, *bodyFile); err != nil {
		log.Fatalf("scs-server: %v", err)
	}
}

func run(addr, bodyFile string) error {
	if bodyFile == "" {
		return errors.New("--body is required")
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	// scs.New's defaults are what a user starts with: the memstore, a
	// cookie named "session" (HttpOnly, SameSite=Lax) and a 24 h lifetime.
	// Secure stays off because the bench speaks plain HTTP on loopback.
	sm := scs.New()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// A new token on login, as scs's documentation asks, so that a
		// session id planted before login is never the logged-in one.
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, "cannot create a session", http.StatusInternalServerError)
			return
		}
		sm.Put(r.Context(), "user_id", rand.Text())
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user_id") == "" {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("scs-server: listening on http://%s\n", ln.Addr())
	return http.Serve(ln, sm.LoadAndSave(mux))
}
