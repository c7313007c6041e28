// Package storemetrics times every call to valet's stores into Prometheus.
// Wrap returns a valet.Stores whose members do what the given ones do, a
// Sessions that is a valet.SessionLister when the given one is, a Users
// that is a mail.TicketStore when the given one is, and that record, on
// the registry given:
//
//	valet_store_call_duration_seconds{store,op}  histogram; its _count is the calls
//	valet_store_errors_total{store,op}           calls that failed
//
// store is the member of valet.Stores ("users", "sessions", "refresh",
// "keys", "secrets", "revocations", "factors", "clients"), or "mail" for
// the outbox and the tickets that a Users member keeps, and op the method
// ("UserByEmail"). A failure is an error other than valet.ErrNotFound and
// valet.ErrConflict, which are answers, not failures (see the contract in
// valet's store.go).
//
// It links no database driver: it wraps the interfaces, whatever backend
// is behind them.
package storemetrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// latencyBuckets span a cached Redis call (100µs) to the default store
// timeout (3s) and past it.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// meter holds the two series; each op resolves its own children once.
type meter struct {
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

// op is one method's series, resolved at Wrap so that a call costs a clock
// read and an observation, no label lookup.
type op struct {
	latency prometheus.Observer
	errors  prometheus.Counter
}

func (m *meter) op(store, name string) *op {
	return &op{latency: m.latency.WithLabelValues(store, name), errors: m.errors.WithLabelValues(store, name)}
}

// done records a call that began at start and returned err.
func (o *op) done(start time.Time, err error) {
	o.latency.Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, valet.ErrNotFound) && !errors.Is(err, valet.ErrConflict) {
		o.errors.Inc()
	}
}

// Wrap returns s with every call of each non-nil member timed on reg. It
// returns an error when reg refuses the series, such as when they are
// registered there already by another Wrap: wrap a backend's stores once.
func Wrap(s valet.Stores, reg prometheus.Registerer) (valet.Stores, error) {
	m := &meter{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "valet_store_call_duration_seconds",
			Help:    "Time of a call to a store, by store (the member of valet.Stores) and method.",
			Buckets: latencyBuckets,
		}, []string{"store", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "valet_store_errors_total",
			Help: "Calls to a store that failed (not found and conflict are answers, not failures), by store and method.",
		}, []string{"store", "op"}),
	}
	if err := reg.Register(m.latency); err != nil {
		return valet.Stores{}, err
	}
	if err := reg.Register(m.errors); err != nil {
		reg.Unregister(m.latency)
		return valet.Stores{}, err
	}
	out := valet.Stores{}
	if s.Users != nil {
		u := wrapUsers(s.Users, m)
		out.Users = u
		if ts, ok := s.Users.(mail.TicketStore); ok {
			out.Users = wrapMail(u, ts, m)
		}
	}
	if s.Sessions != nil {
		out.Sessions = wrapSessions(s.Sessions, m)
	}
	if s.Refresh != nil {
		out.Refresh = wrapRefresh(s.Refresh, m)
	}
	if s.Keys != nil {
		out.Keys = wrapKeys(s.Keys, m)
	}
	if s.Secrets != nil {
		out.Secrets = wrapSecrets(s.Secrets, m)
	}
	if s.Revocations != nil {
		out.Revocations = wrapRevocations(s.Revocations, m)
	}
	if s.Factors != nil {
		out.Factors = wrapFactors(s.Factors, m)
	}
	if s.Clients != nil {
		out.Clients = wrapClients(s.Clients, m)
	}
	return out, nil
}

// A wrapper of Sessions is a valet.SessionLister exactly when what it wraps
// is one, so that the engine, which asks, gets the same answer. Sweeper and
// Pinger are not forwarded: they are abilities of a backend, which one
// value of it provides for all its members (a caller sweeps or pings the
// backend once, not each member), and a wrapper per member would break that.

// users

type users struct {
	inner                                            valet.UserStore
	create, byID, byEmail, update, delete, listUsers *op
}

func wrapUsers(in valet.UserStore, m *meter) *users {
	const s = "users"
	return &users{inner: in, create: m.op(s, "CreateUser"), byID: m.op(s, "UserByID"), byEmail: m.op(s, "UserByEmail"),
		update: m.op(s, "UpdateUser"), delete: m.op(s, "DeleteUser"), listUsers: m.op(s, "ListUsers")}
}

func (w *users) CreateUser(ctx context.Context, u valet.User) error {
	start := time.Now()
	err := w.inner.CreateUser(ctx, u)
	w.create.done(start, err)
	return err
}

func (w *users) UserByID(ctx context.Context, id string) (valet.User, error) {
	start := time.Now()
	u, err := w.inner.UserByID(ctx, id)
	w.byID.done(start, err)
	return u, err
}

func (w *users) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	start := time.Now()
	u, err := w.inner.UserByEmail(ctx, email)
	w.byEmail.done(start, err)
	return u, err
}

func (w *users) UpdateUser(ctx context.Context, u valet.User) error {
	start := time.Now()
	err := w.inner.UpdateUser(ctx, u)
	w.update.done(start, err)
	return err
}

func (w *users) DeleteUser(ctx context.Context, id string) error {
	start := time.Now()
	err := w.inner.DeleteUser(ctx, id)
	w.delete.done(start, err)
	return err
}

func (w *users) ListUsers(ctx context.Context, q valet.UserQuery) ([]valet.User, int, error) {
	start := time.Now()
	us, total, err := w.inner.ListUsers(ctx, q)
	w.listUsers.done(start, err)
	return us, total, err
}

// sessions

type sessions struct {
	inner                               valet.SessionStore
	create, get, touch, delete, setAuth *op
}

type sessionLister struct {
	inner                 valet.SessionLister
	userSessions, delUser *op
}

func wrapSessions(in valet.SessionStore, m *meter) valet.SessionStore {
	const s = "sessions"
	w := &sessions{inner: in, create: m.op(s, "CreateSession"), get: m.op(s, "Session"), touch: m.op(s, "TouchSession"),
		delete: m.op(s, "DeleteSession"), setAuth: m.op(s, "SetSessionAuth")}
	l, ok := in.(valet.SessionLister)
	if !ok {
		return w
	}
	return struct {
		*sessions
		*sessionLister
	}{w, &sessionLister{inner: l, userSessions: m.op(s, "UserSessions"), delUser: m.op(s, "DeleteUserSessions")}}
}

func (w *sessions) CreateSession(ctx context.Context, s valet.Session) error {
	start := time.Now()
	err := w.inner.CreateSession(ctx, s)
	w.create.done(start, err)
	return err
}

func (w *sessions) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	start := time.Now()
	s, found, err := w.inner.Session(ctx, id)
	w.get.done(start, err)
	return s, found, err
}

func (w *sessions) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	start := time.Now()
	err := w.inner.TouchSession(ctx, id, lastSeen, idleExpiresAt)
	w.touch.done(start, err)
	return err
}

func (w *sessions) DeleteSession(ctx context.Context, id string) (bool, error) {
	start := time.Now()
	ok, err := w.inner.DeleteSession(ctx, id)
	w.delete.done(start, err)
	return ok, err
}

func (w *sessions) SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error {
	start := time.Now()
	err := w.inner.SetSessionAuth(ctx, id, authTime, amr)
	w.setAuth.done(start, err)
	return err
}

func (w *sessionLister) UserSessions(ctx context.Context, userID string) ([]valet.Session, error) {
	start := time.Now()
	ss, err := w.inner.UserSessions(ctx, userID)
	w.userSessions.done(start, err)
	return ss, err
}

func (w *sessionLister) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	start := time.Now()
	ids, err := w.inner.DeleteUserSessions(ctx, userID, except)
	w.delUser.done(start, err)
	return ids, err
}

// refresh

type refresh struct {
	inner                                       valet.RefreshStore
	create, byToken, advance, revoke, revokeAll *op
}

func wrapRefresh(in valet.RefreshStore, m *meter) valet.RefreshStore {
	const s = "refresh"
	return &refresh{inner: in, create: m.op(s, "CreateRefreshFamily"), byToken: m.op(s, "RefreshByToken"),
		advance: m.op(s, "AdvanceRefreshFamily"), revoke: m.op(s, "RevokeRefreshFamily"), revokeAll: m.op(s, "RevokeRefreshFamilies")}
}

func (w *refresh) CreateRefreshFamily(ctx context.Context, f valet.RefreshFamily, tokenHash string) error {
	start := time.Now()
	err := w.inner.CreateRefreshFamily(ctx, f, tokenHash)
	w.create.done(start, err)
	return err
}

func (w *refresh) RefreshByToken(ctx context.Context, tokenHash string) (valet.RefreshFamily, int, bool, error) {
	start := time.Now()
	f, gen, found, err := w.inner.RefreshByToken(ctx, tokenHash)
	w.byToken.done(start, err)
	return f, gen, found, err
}

func (w *refresh) AdvanceRefreshFamily(ctx context.Context, id string, from int, newHash string, successor []byte, now, idleExpiresAt time.Time) (bool, error) {
	start := time.Now()
	ok, err := w.inner.AdvanceRefreshFamily(ctx, id, from, newHash, successor, now, idleExpiresAt)
	w.advance.done(start, err)
	return ok, err
}

func (w *refresh) RevokeRefreshFamily(ctx context.Context, id string) error {
	start := time.Now()
	err := w.inner.RevokeRefreshFamily(ctx, id)
	w.revoke.done(start, err)
	return err
}

func (w *refresh) RevokeRefreshFamilies(ctx context.Context, userID, sessionID string) error {
	start := time.Now()
	err := w.inner.RevokeRefreshFamilies(ctx, userID, sessionID)
	w.revokeAll.done(start, err)
	return err
}

// keys

type keys struct {
	inner                  valet.KeyStore
	list, add, retire, del *op
}

func wrapKeys(in valet.KeyStore, m *meter) valet.KeyStore {
	const s = "keys"
	return &keys{inner: in, list: m.op(s, "SigningKeys"), add: m.op(s, "AddSigningKey"), retire: m.op(s, "RetireSigningKey"),
		del: m.op(s, "DeleteSigningKey")}
}

func (w *keys) SigningKeys(ctx context.Context) ([]valet.SigningKey, error) {
	start := time.Now()
	ks, err := w.inner.SigningKeys(ctx)
	w.list.done(start, err)
	return ks, err
}

func (w *keys) AddSigningKey(ctx context.Context, k valet.SigningKey) error {
	start := time.Now()
	err := w.inner.AddSigningKey(ctx, k)
	w.add.done(start, err)
	return err
}

func (w *keys) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	start := time.Now()
	err := w.inner.RetireSigningKey(ctx, id, at)
	w.retire.done(start, err)
	return err
}

func (w *keys) DeleteSigningKey(ctx context.Context, id string) error {
	start := time.Now()
	err := w.inner.DeleteSigningKey(ctx, id)
	w.del.done(start, err)
	return err
}

// secrets

type secrets struct {
	inner  valet.SecretStore
	ensure *op
}

func wrapSecrets(in valet.SecretStore, m *meter) valet.SecretStore {
	const s = "secrets"
	return &secrets{inner: in, ensure: m.op(s, "EnsureSecret")}
}

func (w *secrets) EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	start := time.Now()
	v, err := w.inner.EnsureSecret(ctx, name, value)
	w.ensure.done(start, err)
	return v, err
}

// revocations

type revocations struct {
	inner     valet.RevocationStore
	add, list *op
}

func wrapRevocations(in valet.RevocationStore, m *meter) valet.RevocationStore {
	const s = "revocations"
	return &revocations{inner: in, add: m.op(s, "AddRevocation"), list: m.op(s, "Revocations")}
}

func (w *revocations) AddRevocation(ctx context.Context, r valet.Revocation) error {
	start := time.Now()
	err := w.inner.AddRevocation(ctx, r)
	w.add.done(start, err)
	return err
}

func (w *revocations) Revocations(ctx context.Context, now time.Time) ([]valet.Revocation, error) {
	start := time.Now()
	rs, err := w.inner.Revocations(ctx, now)
	w.list.done(start, err)
	return rs, err
}

// factors

type factors struct {
	inner                                            valet.FactorStore
	create, list, byCredential, update, useStep      *op
	delete, deleteAll, setCodes, useCode, countCodes *op
	putPending, takePending                          *op
}

func wrapFactors(in valet.FactorStore, m *meter) valet.FactorStore {
	const s = "factors"
	return &factors{inner: in, create: m.op(s, "CreateFactor"), list: m.op(s, "Factors"),
		byCredential: m.op(s, "FactorByCredential"), update: m.op(s, "UpdateFactor"), useStep: m.op(s, "UseFactorStep"),
		delete: m.op(s, "DeleteFactor"), deleteAll: m.op(s, "DeleteFactors"), setCodes: m.op(s, "SetRecoveryCodes"),
		useCode: m.op(s, "UseRecoveryCode"), countCodes: m.op(s, "RecoveryCodes"),
		putPending: m.op(s, "PutPending"), takePending: m.op(s, "TakePending")}
}

func (w *factors) CreateFactor(ctx context.Context, f valet.Factor) error {
	start := time.Now()
	err := w.inner.CreateFactor(ctx, f)
	w.create.done(start, err)
	return err
}

func (w *factors) Factors(ctx context.Context, userID string) ([]valet.Factor, error) {
	start := time.Now()
	fs, err := w.inner.Factors(ctx, userID)
	w.list.done(start, err)
	return fs, err
}

func (w *factors) FactorByCredential(ctx context.Context, credentialID string) (valet.Factor, bool, error) {
	start := time.Now()
	f, found, err := w.inner.FactorByCredential(ctx, credentialID)
	w.byCredential.done(start, err)
	return f, found, err
}

func (w *factors) UpdateFactor(ctx context.Context, f valet.Factor) (bool, error) {
	start := time.Now()
	ok, err := w.inner.UpdateFactor(ctx, f)
	w.update.done(start, err)
	return ok, err
}

func (w *factors) UseFactorStep(ctx context.Context, userID, id string, step int64, at time.Time) (bool, error) {
	start := time.Now()
	ok, err := w.inner.UseFactorStep(ctx, userID, id, step, at)
	w.useStep.done(start, err)
	return ok, err
}

func (w *factors) DeleteFactor(ctx context.Context, userID, id string) (bool, error) {
	start := time.Now()
	ok, err := w.inner.DeleteFactor(ctx, userID, id)
	w.delete.done(start, err)
	return ok, err
}

func (w *factors) DeleteFactors(ctx context.Context, userID string) (int, error) {
	start := time.Now()
	n, err := w.inner.DeleteFactors(ctx, userID)
	w.deleteAll.done(start, err)
	return n, err
}

func (w *factors) SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	start := time.Now()
	err := w.inner.SetRecoveryCodes(ctx, userID, hashes)
	w.setCodes.done(start, err)
	return err
}

func (w *factors) UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error) {
	start := time.Now()
	ok, err := w.inner.UseRecoveryCode(ctx, userID, hash)
	w.useCode.done(start, err)
	return ok, err
}

func (w *factors) RecoveryCodes(ctx context.Context, userID string) (int, error) {
	start := time.Now()
	n, err := w.inner.RecoveryCodes(ctx, userID)
	w.countCodes.done(start, err)
	return n, err
}

func (w *factors) PutPending(ctx context.Context, key string, value []byte, expires time.Time) error {
	start := time.Now()
	err := w.inner.PutPending(ctx, key, value, expires)
	w.putPending.done(start, err)
	return err
}

func (w *factors) TakePending(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	start := time.Now()
	v, found, err := w.inner.TakePending(ctx, key, now)
	w.takePending.done(start, err)
	return v, found, err
}

// clients

type clients struct {
	inner                                     valet.ClientStore
	create, byID, list, delete                *op
	createCode, takeCode                      *op
	setConsent, consent, consents, delConsent *op
	addGrant, grants, delGrants               *op
	createRefresh, rotateRefresh              *op
	revokeRefreshToken, revokeRefreshes       *op
}

func wrapClients(in valet.ClientStore, m *meter) valet.ClientStore {
	const s = "clients"
	return &clients{inner: in, create: m.op(s, "CreateClient"), byID: m.op(s, "ClientByID"), list: m.op(s, "Clients"),
		delete: m.op(s, "DeleteClient"), createCode: m.op(s, "CreateAuthCode"), takeCode: m.op(s, "TakeAuthCode"),
		setConsent: m.op(s, "SetConsent"), consent: m.op(s, "Consent"), consents: m.op(s, "Consents"),
		delConsent: m.op(s, "DeleteConsent"), addGrant: m.op(s, "AddClientGrant"), grants: m.op(s, "ClientGrants"),
		delGrants: m.op(s, "TakeClientGrants"), createRefresh: m.op(s, "CreateClientRefresh"),
		rotateRefresh: m.op(s, "RotateClientRefresh"), revokeRefreshToken: m.op(s, "RevokeClientRefreshToken"),
		revokeRefreshes: m.op(s, "RevokeClientRefreshes")}
}

func (w *clients) CreateClient(ctx context.Context, c valet.Client) error {
	start := time.Now()
	err := w.inner.CreateClient(ctx, c)
	w.create.done(start, err)
	return err
}

func (w *clients) ClientByID(ctx context.Context, id string) (valet.Client, error) {
	start := time.Now()
	c, err := w.inner.ClientByID(ctx, id)
	w.byID.done(start, err)
	return c, err
}

func (w *clients) Clients(ctx context.Context) ([]valet.Client, error) {
	start := time.Now()
	cs, err := w.inner.Clients(ctx)
	w.list.done(start, err)
	return cs, err
}

func (w *clients) DeleteClient(ctx context.Context, id string) error {
	start := time.Now()
	err := w.inner.DeleteClient(ctx, id)
	w.delete.done(start, err)
	return err
}

func (w *clients) CreateAuthCode(ctx context.Context, code valet.AuthCode) error {
	start := time.Now()
	err := w.inner.CreateAuthCode(ctx, code)
	w.createCode.done(start, err)
	return err
}

func (w *clients) TakeAuthCode(ctx context.Context, hash string, now time.Time) (valet.AuthCode, bool, bool, error) {
	start := time.Now()
	c, found, used, err := w.inner.TakeAuthCode(ctx, hash, now)
	w.takeCode.done(start, err)
	return c, found, used, err
}

func (w *clients) SetConsent(ctx context.Context, c valet.Consent) error {
	start := time.Now()
	err := w.inner.SetConsent(ctx, c)
	w.setConsent.done(start, err)
	return err
}

func (w *clients) Consent(ctx context.Context, userID, clientID string) (valet.Consent, bool, error) {
	start := time.Now()
	c, found, err := w.inner.Consent(ctx, userID, clientID)
	w.consent.done(start, err)
	return c, found, err
}

func (w *clients) Consents(ctx context.Context, userID string) ([]valet.Consent, error) {
	start := time.Now()
	cs, err := w.inner.Consents(ctx, userID)
	w.consents.done(start, err)
	return cs, err
}

func (w *clients) DeleteConsent(ctx context.Context, userID, clientID string) (bool, error) {
	start := time.Now()
	ok, err := w.inner.DeleteConsent(ctx, userID, clientID)
	w.delConsent.done(start, err)
	return ok, err
}

func (w *clients) AddClientGrant(ctx context.Context, g valet.ClientGrant) error {
	start := time.Now()
	err := w.inner.AddClientGrant(ctx, g)
	w.addGrant.done(start, err)
	return err
}

func (w *clients) ClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	start := time.Now()
	gs, err := w.inner.ClientGrants(ctx, sid)
	w.grants.done(start, err)
	return gs, err
}

func (w *clients) TakeClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	start := time.Now()
	gs, err := w.inner.TakeClientGrants(ctx, sid)
	w.delGrants.done(start, err)
	return gs, err
}

func (w *clients) CreateClientRefresh(ctx context.Context, f valet.ClientRefresh, tokenHash string) error {
	start := time.Now()
	err := w.inner.CreateClientRefresh(ctx, f, tokenHash)
	w.createRefresh.done(start, err)
	return err
}

func (w *clients) RotateClientRefresh(ctx context.Context, clientID, tokenHash, newHash string, now time.Time) (valet.ClientRefresh, bool, bool, error) {
	start := time.Now()
	f, found, reused, err := w.inner.RotateClientRefresh(ctx, clientID, tokenHash, newHash, now)
	w.rotateRefresh.done(start, err)
	return f, found, reused, err
}

func (w *clients) RevokeClientRefreshToken(ctx context.Context, clientID, tokenHash string) error {
	start := time.Now()
	err := w.inner.RevokeClientRefreshToken(ctx, clientID, tokenHash)
	w.revokeRefreshToken.done(start, err)
	return err
}

func (w *clients) RevokeClientRefreshes(ctx context.Context, f valet.ClientRefreshFilter) (int, error) {
	start := time.Now()
	n, err := w.inner.RevokeClientRefreshes(ctx, f)
	w.revokeRefreshes.done(start, err)
	return n, err
}
