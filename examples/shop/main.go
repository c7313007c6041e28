// Command shop is an example web shop that embeds valet as a library: its
// pages sign customers in with a session cookie and keep a cart per
// customer across pages and restarts; a JSON API serves the same cart to a
// mobile app that holds a Bearer token; an admin page is open to the role
// admin only. Users, sessions and carts live in one SQLite file.
//
//	go run ./examples/shop                     # data in a new temporary directory
//	go run ./examples/shop -data-dir ./shop-data -admin you@example.com
//
// Then open http://localhost:8000, create an account and fill a cart. The
// mobile API, with curl:
//
//	curl -s localhost:8000/auth/v1/login -d '{"email":"...","password":"...","mode":"token"}'
//	curl -s localhost:8000/api/cart -H "Authorization: Bearer <access_token>"
//	curl -s localhost:8000/api/cart/items -H "Authorization: Bearer <access_token>" -d '{"product_id":"tea","quantity":2}'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address (port 0 picks a free port)")
	dataDir := fs.String("data-dir", "", "directory for shop.db (default: a new temporary directory)")
	admin := fs.String("admin", "", "email of the account that gets the admin role")
	insecure := fs.Bool("insecure-cookies", false, "drop the cookie's Secure attribute (plain HTTP on a host other than localhost)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "valet-shop-")
		if err != nil {
			return err
		}
		*dataDir = dir
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := newApp(config{DataDir: *dataDir, AdminEmail: *admin, InsecureCookies: *insecure, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	url := "http://" + ln.Addr().String()
	if host, port, err := net.SplitHostPort(ln.Addr().String()); err == nil && net.ParseIP(host).IsLoopback() {
		// Browsers keep Secure cookies on http://localhost.
		url = "http://localhost:" + port
	}
	fmt.Fprintf(stdout, "shop: listening on %s (data in %s)\n", url, *dataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
