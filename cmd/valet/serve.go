package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/gcfloor"
	"github.com/valetauth/valet/internal/writedeadline"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/mail/mailmetrics"
	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/storemetrics"
	"github.com/valetauth/valet/throttle"
	"github.com/valetauth/valet/throttle/redisrate"
	"github.com/valetauth/valet/web"
)

// serveSettings are the settings of valet serve.
type serveSettings struct {
	sf             storeFlags
	vf             serviceFlags
	addr           string
	cookieSecure   bool
	trustedOrigins originsFlag
	accessRules    accessRulesFlag
	trustedProxies proxiesFlag
	publicURL      string
	cookieDomain   string
	redirectHosts  listFlag
	tlsCert        string
	tlsKey         string
	tf             throttleFlags
	logLevel       string
	metricsAddr    string
	mf             mailFlags
	verifyTTL      time.Duration
	recoveryTTL    time.Duration
	requireVerify  bool
	mfa            string
	reauthWindow   time.Duration
}

// newServeFlagSet returns the flags of valet serve, bound to the settings
// it returns. docs/config.md is generated from it.
func newServeFlagSet() (*flag.FlagSet, *serveSettings) {
	fs := flag.NewFlagSet("valet serve", flag.ContinueOnError)
	c := &serveSettings{}
	c.sf.register(fs)
	c.vf.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.BoolVar(&c.cookieSecure, "cookie-secure", true, "mark the session cookie Secure (browsers accept it on http://localhost too)")
	fs.Var(&c.accessRules, "access-rule", "forward-auth rule \"HOST/PATH ROLE[,ROLE]\", e.g. \"*.example.com/admin admin\" (repeat, or separate with ';')")
	fs.Var(&c.trustedOrigins, "trusted-origins", "origins allowed to send cookie-authenticated unsafe requests, e.g. https://app.example.com (comma-separated)")
	fs.Var(&c.trustedProxies, "trusted-proxies", "addresses or CIDRs of reverse proxies whose X-Forwarded-For, and whose forward-auth headers (X-Forwarded-*, X-Original-*), are believed (comma-separated)")
	fs.StringVar(&c.publicURL, "public-url", "", "valet's external address, e.g. https://auth.example.com: forward auth sends browsers to sign in there (default http:// + the listen address, https:// with --tls-cert)")
	fs.StringVar(&c.cookieDomain, "cookie-domain", "", "share the sign-in cookies with every host under this domain, e.g. example.com (default: host-only cookies)")
	fs.Var(&c.redirectHosts, "allowed-redirect-hosts", "hosts, besides valet's own and those under --cookie-domain, that rd and return_to may lead back to (comma-separated; ports are ignored)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain (with --tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	c.tf.register(fs)
	c.mf.register(fs)
	fs.DurationVar(&c.verifyTTL, "verify-ttl", 24*time.Hour, "how long the link and code of an email verification (and of an email change) stay valid")
	fs.DurationVar(&c.recoveryTTL, "recovery-ttl", 15*time.Minute, "how long the link and code of an account recovery stay valid")
	fs.BoolVar(&c.requireVerify, "require-verified-email", false, "refuse the sign-in of accounts whose email address is not verified (403 email_unverified; the sign-in page offers a new link)")
	fs.StringVar(&c.mfa, "mfa", "optional", "who must have a second factor: optional, required, or required-for-role=ROLE (they are sent to add one before anything else)")
	fs.DurationVar(&c.reauthWindow, "reauth-window", 10*time.Minute, "how recent a sign-in must be to add or remove a second factor, change the password or email, or end all sessions (else 403 reauth_required)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics on this address only, e.g. 127.0.0.1:9090 (default: on --addr)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: valet serve [flags]\n\nRuns the server. docs/config.md describes every setting, with an example\nconfig file.\n\n")
		writeFlagHelp(fs.Output(), fs)
	}
	return fs, c
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newServeFlagSet()
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args, &c.sf.config); err != nil {
		return err
	}
	sf, vf, tf := &c.sf, &c.vf, &c.tf
	addr, cookieSecure, logLevel := c.addr, c.cookieSecure, c.logLevel
	trustedOrigins, accessRules, trustedProxies := c.trustedOrigins, c.accessRules, c.trustedProxies
	tlsCert, tlsKey := c.tlsCert, c.tlsKey
	if err := vf.validate(); err != nil {
		return err
	}
	if err := c.mf.validate(); err != nil {
		return err
	}
	mfa, err := auth.ParseMFAPolicy(c.mfa)
	if err != nil {
		return usageError{"--mfa: " + err.Error()}
	}
	c.vf.mfa = mfa
	if c.reauthWindow < time.Second {
		return usageError{"--reauth-window must be at least 1s"}
	}
	if c.verifyTTL < time.Minute || c.recoveryTTL < time.Second {
		return usageError{"--verify-ttl must be at least 1m and --recovery-ttl at least 1s"}
	}
	templates, err := c.mf.loadTemplates()
	if err != nil {
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
	cookie, publicURL, err := forwardAuthSettings(c)
	if err != nil {
		return err
	}

	// Garbage collection waits for the heap to reach heapFloor (see
	// package gcfloor), unless GOGC says how to collect.
	if os.Getenv("GOGC") == "" {
		defer gcfloor.Start(heapFloor)()
	}
	// Shutdown runs in the reverse order of start: HTTP first (no new
	// requests), then background work, then the engine, then the stores.
	sf.log = log
	b, err := sf.open(ctx, true)
	if err != nil {
		return err
	}
	defer b.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if b.stores, err = storemetrics.Wrap(b.stores, reg); err != nil {
		return err
	}
	// The outbox and the tickets are the database's, which keeps the
	// users; the wrapper for metrics keeps them too.
	outbox, _ := b.stores.Users.(mail.TicketStore)
	vf.registerer = reg
	guard, closeGuard := tf.guard(sf.sessions, sf.storeTimeout)
	defer closeGuard()
	vf.throttle = guard
	// Listening before the engine is built gives the default --public-url,
	// the base of the links in mail, the port that --addr 127.0.0.1:0
	// picked.
	ln, err := serverListen(addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	defer ln.Close()
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
		if tlsConf != nil {
			publicURL = "https://" + ln.Addr().String()
		}
	}
	sender, err := c.mf.smtpSender(30 * time.Second)
	if err != nil {
		return err
	}
	vf.mail = auth.MailConfig{Outbox: outbox, Templates: templates, PublicURL: publicURL,
		VerifyTTL: c.verifyTTL, RecoveryTTL: c.recoveryTTL}
	if sender != nil {
		vf.mail.Sender = sender
	} else {
		vf.mail.Sender = mail.LogSender{Logger: log}
	}
	vf.requireVerified = c.requireVerify
	vf.reauthWindow = c.reauthWindow
	if vf.passkeys, err = passkeyParty(publicURL, cookie.Domain); err != nil {
		log.Warn("passkeys are off: "+valet.Message(err), "public_url", publicURL)
	}
	// The provider needs the engine, and the engine tells the provider of
	// ended sessions: the hook is given now and pointed at the provider
	// once there is one.
	hook := newProviderHook(log)
	vf.sessionEnded, vf.sessionRevoked = hook.sessionEnded, hook.sessionRevoked
	// Detached from ctx, so that the revocation node keeps listening while
	// HTTP drains after a signal; stopService ends it afterwards.
	svc, stopService, err := vf.service(context.WithoutCancel(ctx), b, log)
	if err != nil {
		return err
	}
	defer stopService()
	worker := svc.MailWorker()
	if err := mailmetrics.Register(reg, worker); err != nil {
		return err
	}

	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if c.metricsAddr != "" {
		mln, err := net.Listen("tcp", c.metricsAddr)
		if err != nil {
			return fmt.Errorf("cannot listen on %s (--metrics-addr): %v", c.metricsAddr, err)
		}
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		msrv := &http.Server{Handler: mmux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		fmt.Fprintf(stdout, "valet: metrics on http://%s/metrics\n", mln.Addr())
		metrics = nil
	}
	cookie.Insecure = !cookieSecure
	api := httpapi.New(svc, httpapi.Config{
		Cookie:         cookie,
		TrustedOrigins: trustedOrigins,
		AccessRules:    accessRules,
		ForwardAuth: httpapi.ForwardAuthConfig{
			TrustedProxies:       proxies,
			PublicURL:            publicURL,
			AllowedRedirectHosts: c.redirectHosts,
		},
		Ready:      b.ready,
		Metrics:    metrics,
		Registerer: reg,
		ClientIP:   httpapi.ForwardedClientIP(proxies),
		Logger:     log,
		Clients:    b.stores.Clients,
	})
	// The OpenID Connect provider, on the clients of the database. Closed
	// after HTTP and before the engine: the back-channel logouts under way
	// are sent or given up.
	var (
		provider http.Handler
		pages    web.Config
	)
	if b.stores.Clients != nil {
		p := newProvider(svc, api.Config().Cookie, api.Config().ClientIP, publicURL, b.stores.Clients, log)
		hook.p.Store(p)
		defer p.Close()
		provider, pages.Apps = api.Instrument(p.Handler()), p
	}
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { sweepExpired(bgCtx, b, log) })
	background.Go(func() { hook.run(bgCtx) })
	defer background.Wait()
	defer stopBackground()
	// Closed before the engine and the stores, after HTTP: a try under
	// way is finished and recorded, so that it is not sent again.
	if err := worker.Start(bgCtx); err != nil {
		return err
	}
	defer worker.Close()
	srv := httpServer(serveHandler(api, provider, web.New(svc, api, pages), sf.storeTimeout))
	// net/http's own complaints (TLS handshakes, bad requests) go to
	// valet's log, not as bare lines on stderr.
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	srv.TLSConfig = tlsConf
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	// Said before the line that tools wait for, so that it is there when
	// they read on.
	if sender == nil {
		const warning = "no --smtp-url: mail is NOT sent; each message (verification and recovery links and codes) is written to this server's log instead"
		fmt.Fprintf(stdout, "valet: WARNING: %s. Fine on a laptop; elsewhere set --smtp-url and --mail-from, and check them with valet mail test\n", warning)
		log.Warn(warning)
	} else {
		fmt.Fprintf(stdout, "valet: mail goes through %s from %s; links in it start with %s\n", c.mf.smtpURL.u, c.mf.mailFrom.s, publicURL)
	}
	fmt.Fprintf(stdout, "valet: listening on %s://%s (database: %s, default mode: %s)\n", scheme, ln.Addr(), b.kind, vf.mode)
	if b.created {
		fmt.Fprintf(stdout, "valet: created the database %s; it holds the users, sessions and signing keys\n", b.where)
	}
	if _, n, err := svc.ListUsers(ctx, valet.UserQuery{Limit: 1}); err == nil && n == 0 {
		fmt.Fprintf(stdout, "valet: no users yet; create the first administrator with: valet user create --email you@example.com --role admin%s (it reads the password from standard input)\n", sameStore(sf))
	}
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

// sameStore returns the flags that point another command at the database
// that sf opened, for the messages that suggest one.
func sameStore(sf *storeFlags) string {
	switch {
	case sf.config != "":
		return " --config " + shellQuote(sf.config)
	case sf.db != "":
		return " --db " + shellQuote(redactURL(sf.db))
	case sf.dataDir != ".":
		return " --data-dir " + shellQuote(sf.dataDir)
	}
	return ""
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:@+=,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// heapFloor is the heap valet serve lets grow before it collects garbage:
// under load a heap of a few megabytes was collected many times a second,
// up to a third of a request's CPU.
const heapFloor = 64 << 20

// httpServer is the server valet serve runs h in, on a serverListen
// listener: its timeouts bound a slow client (a header sent byte by byte,
// a body never finished, an answer never read) and its header limit a
// large one. valet bench's floor as served runs in it too.
func httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// serverListen listens on addr for httpServer. Its connections keep a
// write deadline in force for up to a second longer than net/http asks
// (see package writedeadline), so that on a busy connection WriteTimeout
// moves the runtime's timers about once a second, not twice a request.
func serverListen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return writedeadline.Listener(ln), nil
}

// serveHandler is what valet serve answers with: the API, the provider
// (when not nil) and the pages, each request with its store deadline.
func serveHandler(api *httpapi.API, provider, pages http.Handler, storeTimeout time.Duration) http.Handler {
	return httpapi.Deadline(routes(api, provider, api.Instrument(pages)), storeTimeout, httpapi.PasswordPaths...)
}

// routes serves the JSON API at its own paths, the OpenID Connect
// provider (when not nil) at discovery and /oauth2/, and the web pages at
// every other path, so that a browser opening the server's address gets a
// page. The provider's keys are those of the API's /.well-known/jwks.json.
//
// It picks by the path's prefix, not with a ServeMux: the API and the
// pages route with muxes of their own, and one in front of them would
// match every request twice. Every answer carries the security headers
// once: the API sets them itself, and the provider and the pages get them
// from httpapi.SecurityHeaders (a page replaces the policy with its own).
func routes(api, provider, pages http.Handler) http.Handler {
	pages = httpapi.SecurityHeaders(pages)
	if provider != nil {
		provider = httpapi.SecurityHeaders(provider)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case provider != nil && (p == "/.well-known/openid-configuration" || strings.HasPrefix(p, "/oauth2/")):
			provider.ServeHTTP(w, r)
		case apiPath(p):
			api.ServeHTTP(w, r)
		default:
			pages.ServeHTTP(w, r)
		}
	})
}

// apiPath reports whether the JSON API serves path p.
func apiPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return true
	}
	return strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/.well-known/")
}

// sweepExpired drops expired sessions, refresh families, revocations and
// tickets every ten minutes, so the database does not grow without bound.
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
	loginAccount, loginIP, signup, refresh   limitsFlag
	mailAccount, mailIP, codeAccount, codeIP limitsFlag
	factorAccount, factorIP                  limitsFlag
}

func (t *throttleFlags) register(fs *flag.FlagSet) {
	p := throttle.DefaultPolicy()
	t.loginAccount, t.loginIP, t.signup, t.refresh = limitsFlag(p.LoginAccount), limitsFlag(p.LoginIP), limitsFlag(p.Signup), limitsFlag(p.Refresh)
	t.mailAccount, t.mailIP, t.codeAccount, t.codeIP = limitsFlag(p.MailAccount), limitsFlag(p.MailIP), limitsFlag(p.CodeAccount), limitsFlag(p.CodeIP)
	fs.Var(&t.loginAccount, "throttle-login-account", "failed logins per account (any email, known or not): N/DURATION tiers, comma-separated, or off")
	fs.Var(&t.loginIP, "throttle-login-ip", "failed logins per client address (IPv6: per /64): N/DURATION tiers, or off")
	fs.Var(&t.signup, "throttle-signup", "signups per client address: N/DURATION tiers, or off")
	fs.Var(&t.refresh, "throttle-refresh", "token refreshes per client address: N/DURATION tiers, or off")
	fs.Var(&t.mailAccount, "throttle-mail-account", "mail that requests ask for (verification, recovery, email change) per account, known or not: N/DURATION tiers, or off")
	fs.Var(&t.mailIP, "throttle-mail-ip", "mail that requests ask for per client address: N/DURATION tiers, or off")
	fs.Var(&t.codeAccount, "throttle-code-account", "one-time codes tried per address (a ticket dies after 5 wrong ones besides): N/DURATION tiers, or off")
	fs.Var(&t.codeIP, "throttle-code-ip", "one-time codes and link tokens tried per client address: N/DURATION tiers, or off")
	t.factorAccount, t.factorIP = limitsFlag(p.FactorAccount), limitsFlag(p.FactorIP)
	fs.Var(&t.factorAccount, "throttle-factor-account", "wrong second factors (TOTP, recovery codes, passkeys) per account, kept apart from the password's (a right one gives the tries back): N/DURATION tiers, or off")
	fs.Var(&t.factorIP, "throttle-factor-ip", "second factors and passkey sign-ins tried per client address: N/DURATION tiers, or off")
}

// guard returns the throttle: counters in Redis when sessions live there,
// so every node shares them, and in this process otherwise.
func (t *throttleFlags) guard(sessions string, timeout time.Duration) (*throttle.Guard, func()) {
	p := throttle.Policy{LoginAccount: t.loginAccount, LoginIP: t.loginIP, Signup: t.signup, Refresh: t.refresh,
		MailAccount: t.mailAccount, MailIP: t.mailIP, CodeAccount: t.codeAccount, CodeIP: t.codeIP,
		FactorAccount: t.factorAccount, FactorIP: t.factorIP}
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

// passkeyParty returns the WebAuthn relying party of a server at
// publicURL (passkeyConfig), or an error that says why passkeys are off.
func passkeyParty(publicURL, cookieDomain string) (*passkey.RP, error) {
	cfg, err := passkeyConfig(publicURL, cookieDomain)
	if err != nil {
		return nil, err
	}
	return passkey.New(cfg)
}

// passkeyConfig returns the relying party of a server at publicURL: its
// id is the cookie domain when there is one (so that a passkey serves
// every host under it), else the public host; the one origin allowed is
// the public URL's, port included. Host names are compared and kept lower
// case, without a trailing dot. An address that is an IP cannot be a
// relying party (browsers refuse it), nor can a cookie domain that the
// public host is not under: a passkey would then be good for hosts that
// are not this server's.
func passkeyConfig(publicURL, cookieDomain string) (passkey.Config, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return passkey.Config{}, fmt.Errorf("--public-url %q has no host", publicURL)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return passkey.Config{}, valet.Errorf(valet.ErrInvalidRequest, "passkeys need --public-url with a host name (localhost works), not an IP address")
	}
	rpID := host
	if d := strings.Trim(strings.ToLower(cookieDomain), "."); d != "" {
		if host != d && !strings.HasSuffix(host, "."+d) {
			return passkey.Config{}, valet.Errorf(valet.ErrInvalidRequest, "passkeys need --public-url under --cookie-domain: %s is not under %s", host, d)
		}
		rpID = d
	}
	origin := strings.ToLower(u.Scheme) + "://" + host
	if p := u.Port(); p != "" {
		origin += ":" + p
	}
	return passkey.Config{RPID: rpID, RPName: "valet", Origins: []string{origin}}, nil
}

// forwardAuthSettings checks --cookie-domain and --public-url: the cookie
// configuration they give, and the public URL ("" for the default). A
// public host outside the cookie domain is refused, since browsers would
// then drop the cookies that valet's own pages set.
func forwardAuthSettings(c *serveSettings) (session.Cookie, string, error) {
	var cookie session.Cookie
	if c.cookieDomain != "" {
		d, err := session.ParseDomain(c.cookieDomain)
		if err != nil {
			return cookie, "", usageError{"--cookie-domain: " + valet.Message(err)}
		}
		cookie.Domain = d
	}
	if c.publicURL == "" {
		return cookie, "", nil
	}
	pub, err := httpapi.ParsePublicURL(c.publicURL)
	if err != nil {
		return cookie, "", usageError{"--public-url: " + valet.Message(err)}
	}
	if d := cookie.Domain; d != "" {
		if u, _ := url.Parse(pub); u.Hostname() != d && !strings.HasSuffix(u.Hostname(), "."+d) {
			return cookie, "", usageError{fmt.Sprintf("--public-url %s is not under --cookie-domain %s", pub, d)}
		}
	}
	return cookie, pub, nil
}
