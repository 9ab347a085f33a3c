package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/alert"
	"github.com/infermeter/infermeter/api"
	"github.com/infermeter/infermeter/api/feed"
	"github.com/infermeter/infermeter/authlimit"
	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/dashboard"
	"github.com/infermeter/infermeter/fleet"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/budget"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/notify"
	"github.com/infermeter/infermeter/proxy"
	"github.com/infermeter/infermeter/proxy/estimate"
	"github.com/infermeter/infermeter/schedule"
	"github.com/infermeter/infermeter/store"
)

// appOptions are what tests change; the binary uses the zero values.
type appOptions struct {
	Logf func(format string, args ...any)
	// Now is the clock of the proxy, meter and API; nil is time.Now.
	Now func() time.Time
	// FeedCostInterval is the live feed's cost_update period; 0 is 10s.
	FeedCostInterval time.Duration
	// AlertInterval is the alert evaluation period; 0 is 10s.
	AlertInterval time.Duration
	// ScheduleInterval is how often due scheduled reports are looked for;
	// 0 is 30s.
	ScheduleInterval time.Duration
	// AuthLimit configures the failed-authentication throttle shared by
	// both listeners; the zero value is authlimit's defaults (10 failures
	// a minute per address).
	AuthLimit authlimit.Options
}

// app is one running infermeter: the parts and their listeners.
type app struct {
	cfg                *config.Config
	logf               func(string, ...any)
	store              *store.Store
	meter              *meter.Meter
	budget             *budget.Ledger
	proxy              *proxy.Proxy
	api                *api.API
	feed               *feed.Hub
	proxySrv, adminSrv *fasthttp.Server
	proxyLn, adminLn   net.Listener
	ready              atomic.Bool
	serving            sync.WaitGroup
	closeOnce          sync.Once
	closeErr           error
	alerts             *alert.Engine
	schedules          *schedule.Scheduler
	// fleet is nil unless fleet.nats_url is set.
	fleet *fleet.Fleet
	// ownSpend is nil unless the fleet role is both (see fleet.OwnSpend).
	ownSpend *fleet.OwnSpend
	// adminTLS is the admin listener's TLS config; nil serves plain HTTP.
	adminTLS *tls.Config
}

// evictEvery is how often expired request logs are dropped.
const evictEvery = time.Minute

// newApp builds every part from cfg; nothing listens yet.
func newApp(cfg *config.Config, opt appOptions) (*app, error) {
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	a := &app{cfg: cfg, logf: opt.Logf}
	if cfg.AdminTLS.Cert != "" || cfg.AdminTLS.Key != "" {
		tc, err := loadAdminTLS(cfg.AdminTLS)
		if err != nil {
			return nil, err
		}
		a.adminTLS = tc
	}
	catalog, err := pricing.Load(cfg.PricingFile)
	if err != nil {
		return nil, err
	}
	dir := account.New()
	for _, o := range cfg.Orgs {
		dir.PutOrg(account.Org{ID: o.ID, Name: o.Name, Location: o.Location(), MonthlyBudgetNano: config.USDToNano(o.MonthlyBudgetUSD)})
		for _, m := range o.Members {
			err := dir.PutMember(account.Member{
				ID: m.ID, Org: o.ID, Email: m.Email, Department: m.Department, BillingMode: m.BillingMode,
				Role: m.Role, MonthlyLimitNano: config.USDToNano(m.MonthlyLimitUSD), KeyHash: account.HashKey([]byte(m.APIKey)),
			})
			if err != nil {
				return nil, fmt.Errorf("cannot add member %q of org %q: %w", m.ID, o.ID, err)
			}
		}
	}
	st, err := store.Open(cfg.DataDir, store.Options{MaxLogs: cfg.MaxLogs, LogRetention: cfg.LogRetention, Now: opt.Now})
	if err != nil {
		return nil, err
	}
	a.store = st
	if err := api.LoadMembers(st, dir); err != nil {
		_ = st.Close()
		return nil, err
	}
	set := metrics.NewSet()
	limOpt := opt.AuthLimit
	limOpt.Metrics = set
	exempt, trusted, err := cfg.AuthThrottle.Prefixes()
	if err != nil {
		return nil, err
	}
	if limOpt.Max == 0 {
		limOpt.Max = cfg.AuthThrottle.MaxFailures
	}
	if limOpt.Window == 0 {
		limOpt.Window = cfg.AuthThrottle.Window
	}
	if limOpt.Exempt == nil {
		limOpt.Exempt = exempt // nil: authlimit's loopback default
	}
	if limOpt.TrustedProxies == nil {
		limOpt.TrustedProxies = trusted
	}
	authLimit := authlimit.New(limOpt)
	var lastEvict time.Time
	a.meter = meter.New(meter.Options{
		FlushInterval: cfg.FlushInterval,
		Location:      dir.Location,
		Metrics:       set,
		Logf:          opt.Logf,
		// The feed is built below, before the meter starts.
		OnEvent: func(ev *meter.Event) { a.feed.Publish(ev) },
		// The fleet is built below, before the meter starts.
		OnFlushed: func(lastID uint64) {
			if a.fleet != nil {
				a.fleet.Flushed(lastID)
			}
		},
		Flush: func(cells []meter.CellRecord, events []meter.Event) error {
			// Marks is nil unless events came from the fleet: then the
			// consumer's marks are stored in the same commit; so is a
			// `both` instance's own spend.
			state := fleet.Marks(events)
			if a.ownSpend != nil {
				for k, v := range a.ownSpend.Take() {
					if state == nil {
						state = map[string][]byte{}
					}
					state[k] = v
				}
			}
			if err := st.ApplyWithState(cells, events, state); err != nil {
				return err
			}
			if a.ownSpend != nil {
				if err := a.ownSpend.Committed(); err != nil {
					opt.Logf("fleet: %s", err)
				}
			}
			if time.Since(lastEvict) >= evictEvery {
				lastEvict = time.Now()
				if n, err := st.EvictExpired(); err != nil {
					opt.Logf("store: cannot drop expired request logs: %s", err)
				} else if n > 0 {
					opt.Logf("store: dropped %d request logs older than %s", n, cfg.LogRetention)
				}
			}
			return nil
		},
	})
	if err := st.LoadCells(a.meter.Load); err != nil {
		_ = st.Close()
		return nil, err
	}
	a.meter.SeedID(st.NewestID())
	// Loading built the cells through growing maps and slices: hand what
	// that left behind back to the system now, not after some later GC
	// cycles (with millions of cells, hundreds of MB of RSS).
	debug.FreeOSMemory()
	// Budgets start from the month's stored spend (each org's month, in its
	// timezone, at the proxy's clock).
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	a.budget = budget.New(budget.Options{Location: dir.Location})
	if cfg.Fleet.NATSURL != "" && cfg.Fleet.Role == fleet.RoleBoth {
		// Its cells hold the fleet's events too: seed from its own spend.
		if a.ownSpend, err = fleet.NewOwnSpend(st, a.budget, now, len(a.meter.Orgs()) == 0); err == nil {
			err = a.ownSpend.Seed(a.meter.Cells(), dir.Location)
		}
		if err != nil {
			_ = st.Close()
			return nil, err
		}
	} else {
		a.budget.Seed(a.meter.Cells(), now())
	}
	if cfg.Fleet.NATSURL != "" {
		a.fleet, err = fleet.New(fleet.Options{
			Config: cfg.Fleet, Store: st, Meter: a.meter, Budget: a.budget, Metrics: set, Logf: opt.Logf, Now: opt.Now,
		})
		if err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	ups := make([]proxy.UpstreamConfig, 0, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		ups = append(ups, proxy.UpstreamConfig{Name: u.Name, Dialect: u.Dialect, BaseURL: u.BaseURL, APIKey: u.APIKey})
	}
	a.proxy, err = proxy.New(proxy.Options{
		Upstreams:       ups,
		Accounts:        dir,
		Meter:           a.meter,
		Catalog:         catalog,
		Estimator:       estimate.New(),
		CaptureBodies:   cfg.CaptureBodies,
		MaxRequestBytes: cfg.MaxRequestBytes,
		MaxHeaderBytes:  cfg.MaxHeaderBytes,
		Timeout:         cfg.UpstreamTimeout,
		ConnectTimeout:  cfg.UpstreamConnectTimeout,
		Metrics:         set,
		Now:             opt.Now,
		Budget:          a.budget,
		Logf:            opt.Logf,
		AuthLimit:       authLimit,
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	// The feed reads the month's spend of every org and member now: the
	// cells are loaded and the meter has not started.
	a.feed = feed.New(feed.Options{
		Accounts:     dir,
		Meter:        a.meter,
		Origins:      cfg.CORSOrigins,
		Now:          opt.Now,
		CostInterval: opt.FeedCostInterval,
		Metrics:      set,
		AuthLimit:    authLimit,
	})
	a.alerts, err = alert.New(alert.Options{
		Store: st, Meter: a.meter, Accounts: dir, Mailer: notify.NewMailer(cfg.SMTP),
		Interval: opt.AlertInterval, Now: opt.Now, Logf: opt.Logf,
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	a.schedules = schedule.New(schedule.Options{
		Store:    st,
		Location: dir.Location,
		// The API is built below; the scheduler renders only once started.
		Render: func(org string, s *schedule.Schedule, p schedule.Period) (*schedule.Report, error) {
			return a.api.RenderSchedule(org, s, p)
		},
		Send:     schedule.MailSender(cfg.SMTP),
		Now:      opt.Now,
		Interval: opt.ScheduleInterval,
		Logf:     opt.Logf,
	})
	a.api = api.New(api.Options{
		Accounts:      dir,
		Meter:         a.meter,
		Store:         st,
		Catalog:       catalog,
		CaptureBodies: cfg.CaptureBodies,
		Price:         a.proxy.PriceOf,
		Metrics:       []*metrics.Set{set},
		Ready:         a.ready.Load,
		Now:           opt.Now,
		Feed:          a.feed.Serve,
		Alerts:        a.alerts,
		Schedules:     a.schedules,
		Dashboard:     dashboard.Handler(),
		Origins:       cfg.CORSOrigins,
		AuthLimit:     authLimit,
	})
	if len(cfg.Orgs) == 0 {
		opt.Logf("infermeter: no orgs or members configured: every proxied request will get 401 (see examples/infermeter.yaml)")
	}
	return a, nil
}

// Start binds both listeners and serves; it returns once both are bound.
func (a *app) Start() error {
	var err error
	a.proxyLn, err = net.Listen("tcp", a.cfg.ProxyListen)
	if err != nil {
		return fmt.Errorf("cannot listen on proxy_listen %q: %w", a.cfg.ProxyListen, err)
	}
	a.adminLn, err = net.Listen("tcp", a.cfg.AdminListen)
	if err != nil {
		_ = a.proxyLn.Close()
		return fmt.Errorf("cannot listen on admin_listen %q: %w", a.cfg.AdminListen, err)
	}
	scheme := "http"
	if a.adminTLS != nil {
		a.adminLn = tls.NewListener(a.adminLn, a.adminTLS)
		scheme = "https"
	} else if addr, ok := a.adminLn.Addr().(*net.TCPAddr); ok && !addr.IP.IsLoopback() {
		a.logf("infermeter: warning: the admin listener %s is reachable beyond this host and serves plain HTTP: "+
			"member keys would cross the network in clear; set admin_tls or bind admin_listen to 127.0.0.1", a.adminLn.Addr())
	}
	a.meter.Start()
	if a.fleet != nil {
		if err := a.fleet.Start(); err != nil {
			_ = a.proxyLn.Close()
			_ = a.adminLn.Close()
			return err
		}
	}
	a.alerts.Start()
	a.schedules.Start()
	a.proxySrv = a.proxy.Server()
	a.adminSrv = &fasthttp.Server{
		Handler:               a.api.Handler,
		ErrorHandler:          a.api.ErrorHandler,
		Name:                  "infermeter-admin",
		NoDefaultServerHeader: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           90 * time.Second,
		CloseOnShutdown:       true,
		MaxRequestBodySize:    api.MaxBodyBytes,
		ReadBufferSize:        api.MaxHeaderBytes,
	}
	a.serve(a.proxySrv, a.proxyLn, "proxy")
	a.serve(a.adminSrv, a.adminLn, "admin")
	a.ready.Store(true)
	a.logf("infermeter: proxy on %s, admin on %s://%s, data in %s", a.proxyLn.Addr(), scheme, a.adminLn.Addr(), a.cfg.DataDir)
	return nil
}

// loadAdminTLS reads the admin listener's certificate and key; an error
// names the file at fault. The listener then speaks TLS 1.2 or later only.
func loadAdminTLS(c config.AdminTLS) (*tls.Config, error) {
	certPEM, err := os.ReadFile(c.Cert)
	if err != nil {
		return nil, fmt.Errorf("admin_tls.cert: cannot read %q: %w", c.Cert, err)
	}
	keyPEM, err := os.ReadFile(c.Key)
	if err != nil {
		return nil, fmt.Errorf("admin_tls.key: cannot read %q: %w", c.Key, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("admin_tls.cert: %q holds no PEM certificate: %w", c.Cert, err)
		}
		return nil, fmt.Errorf("admin_tls.key: %q is not a PEM private key of the certificate %q: %w", c.Key, c.Cert, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

func (a *app) serve(s *fasthttp.Server, ln net.Listener, name string) {
	a.serving.Add(1)
	go func() {
		defer a.serving.Done()
		if err := s.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			a.logf("infermeter: %s listener stopped: %s", name, err)
		}
	}()
}

// Close stops accepting, drains in-flight requests (bounded by
// shutdown_timeout), flushes every recorded event and closes the store.
func (a *app) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *app) close() error {
	a.ready.Store(false)
	var errs []error
	if a.proxySrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		if err := a.proxySrv.ShutdownWithContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cannot drain the proxy in %s: %w", a.cfg.ShutdownTimeout, err))
		}
		cancel()
	}
	// The feed closes once the proxy is drained and before the meter: the
	// server does not track hijacked connections, so the hub says going
	// away to its clients and waits for them; the meter's last events then
	// reach a closed hub, which drops them without blocking.
	if a.feed != nil {
		_ = a.feed.Close()
	}
	if a.adminSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.adminSrv.ShutdownWithContext(ctx)
		cancel()
	}
	// Shutdown closes only the listeners its Serve has registered: one
	// whose serving goroutine had not started yet is closed here, so that
	// its Serve returns at once.
	for _, ln := range []net.Listener{a.proxyLn, a.adminLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	a.serving.Wait()
	// The alert and report loops stop before the meter's last flush and
	// the store close under them.
	if a.alerts != nil {
		_ = a.alerts.Close()
	}
	if a.schedules != nil {
		_ = a.schedules.Close()
	}
	if a.meter != nil && a.proxySrv != nil {
		if err := a.meter.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// The fleet closes after the meter's last flush, whose events its
	// publisher sends (bounded), and before the store.
	if a.fleet != nil {
		_ = a.fleet.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
