package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/throttle"
	"github.com/valetauth/valet/throttle/redisrate"
	"github.com/valetauth/valet/web"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("valet serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sf             storeFlags
		vf             serviceFlags
		addr           string
		cookieSecure   bool
		trustedOrigins listFlag
		accessRules    accessRulesFlag
		trustedProxies listFlag
		tlsCert        string
		tlsKey         string
		tf             throttleFlags
		logLevel       string
	)
	sf.register(fs)
	vf.register(fs)
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.BoolVar(&cookieSecure, "cookie-secure", true, "mark the session cookie Secure (browsers accept it on http://localhost too)")
	fs.Var(&accessRules, "access-rule", "forward-auth rule \"HOST/PATH ROLE[,ROLE]\", e.g. \"*.example.com/admin admin\" (repeat, or separate with ';')")
	fs.Var(&trustedOrigins, "trusted-origins", "origins allowed to send cookie-authenticated unsafe requests (comma-separated)")
	fs.Var(&trustedProxies, "trusted-proxies", "addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (comma-separated)")
	fs.StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain (with --tls-key)")
	fs.StringVar(&tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	tf.register(fs)
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args, &sf.config); err != nil {
		return err
	}
	if err := vf.validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	proxies, err := httpapi.ParseTrustedProxies(trustedProxies)
	if err != nil {
		return usageError{"--trusted-proxies: " + valet.Message(err)}
	}
	tlsConf, err := loadTLS(tlsCert, tlsKey)
	if err != nil {
		return err
	}

	// Shutdown runs in the reverse order of start: HTTP first (no new
	// requests), then background work, then the engine, then the stores.
	b, err := sf.open(ctx, true)
	if err != nil {
		return err
	}
	defer b.Close()
	guard, closeGuard := tf.guard(sf.sessions, sf.storeTimeout)
	defer closeGuard()
	vf.throttle = guard
	// Detached from ctx, so that the revocation node keeps listening while
	// HTTP drains after a signal; stopService ends it afterwards.
	svc, stopService, err := vf.service(context.WithoutCancel(ctx), b, log)
	if err != nil {
		return err
	}
	defer stopService()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := httpapi.New(svc, httpapi.Config{
		Cookie:         session.Cookie{Insecure: !cookieSecure},
		TrustedOrigins: trustedOrigins,
		AccessRules:    accessRules,
		Ready:          b.ready,
		Metrics:        promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		ClientIP:       httpapi.ForwardedClientIP(proxies),
		Logger:         log,
	})
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { sweepExpired(bgCtx, b, log) })
	defer background.Wait()
	defer stopBackground()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	srv := &http.Server{
		// Outermost, so that pages, redirects and the router's own answers
		// carry the headers too (a page replaces the policy with its own).
		Handler:           httpapi.SecurityHeaders(routes(api, web.New(svc, api, web.Config{}))),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
		TLSConfig:         tlsConf,
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "valet: listening on %s://%s (database: %s, default mode: %s)\n", scheme, ln.Addr(), b.kind, vf.mode)
	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("server stopped: %v", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %v", err)
	}
	return nil
}

// routes serves the JSON API at its own paths and the web pages at every
// other path, so that a browser opening the server's address gets a page.
func routes(api, pages http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/v1/", "/.well-known/", "/healthz", "/readyz", "/metrics", "/openapi.json"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", pages)
	return mux
}

// sweepExpired drops expired sessions, refresh families and revocations
// every ten minutes, so the database does not grow without bound.
func sweepExpired(ctx context.Context, b *backend, log interface {
	Warn(msg string, args ...any)
}) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			if err := b.sweep(sctx, now); err != nil {
				log.Warn("sweeping expired records failed", "err", err)
			}
			cancel()
		}
	}
}

// loadTLS reads the certificate and key that --tls-cert and --tls-key name,
// or returns nil when neither is set. Loading at start makes a bad file a
// startup error rather than a failed handshake later.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, usageError{"--tls-cert and --tls-key go together"}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load the TLS certificate: %v", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// throttleFlags are the limits on attempts; each takes tiers of N/DURATION.
type throttleFlags struct {
	loginAccount, loginIP, signup, refresh limitsFlag
}

func (t *throttleFlags) register(fs *flag.FlagSet) {
	p := throttle.DefaultPolicy()
	t.loginAccount, t.loginIP, t.signup, t.refresh = limitsFlag(p.LoginAccount), limitsFlag(p.LoginIP), limitsFlag(p.Signup), limitsFlag(p.Refresh)
	fs.Var(&t.loginAccount, "throttle-login-account", "failed logins per account (any email, known or not): N/DURATION tiers, comma-separated, or off")
	fs.Var(&t.loginIP, "throttle-login-ip", "failed logins per client address (IPv6: per /64): N/DURATION tiers, or off")
	fs.Var(&t.signup, "throttle-signup", "signups per client address: N/DURATION tiers, or off")
	fs.Var(&t.refresh, "throttle-refresh", "token refreshes per client address: N/DURATION tiers, or off")
}

// guard returns the throttle: counters in Redis when sessions live there,
// so every node shares them, and in this process otherwise.
func (t *throttleFlags) guard(sessions string, timeout time.Duration) (*throttle.Guard, func()) {
	p := throttle.Policy{LoginAccount: t.loginAccount, LoginIP: t.loginIP, Signup: t.signup, Refresh: t.refresh}
	if strings.HasPrefix(sessions, "redis://") || strings.HasPrefix(sessions, "rediss://") {
		// The session store opened this URL already, so it parses.
		if opt, err := goredis.ParseURL(sessions); err == nil {
			opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
			opt.ContextTimeoutEnabled = true
			c := goredis.NewClient(opt)
			return throttle.New(redisrate.New(c, ""), p), func() { _ = c.Close() }
		}
	}
	return throttle.New(throttle.NewMemory(throttle.MemoryConfig{}), p), func() {}
}

// limitsFlag is a flag of throttle limits, as throttle.ParseLimits reads them.
type limitsFlag []throttle.Limit

func (l *limitsFlag) String() string { return throttle.FormatLimits(*l) }
func (l *limitsFlag) Set(v string) error {
	ls, err := throttle.ParseLimits(v)
	if err != nil {
		return errors.New(valet.Message(err))
	}
	*l = ls
	return nil
}
