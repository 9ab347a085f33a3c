package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// selfSigned writes a self-signed ECDSA P-256 certificate for 127.0.0.1
// and its key as PEM files in dir; it returns their paths and a pool that
// trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "infermeter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestAdminTLS: with admin_tls set, the admin listener speaks HTTPS only
// (TLS 1.2 or later): probes, the API and the live feed over wss work for
// a client trusting the certificate; plain HTTP and TLS 1.1 get no answer.
func TestAdminTLS(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	cfg := testConfig(t, base, t.TempDir(), "admin_tls: {cert: "+certFile+", key: "+keyFile+"}\n")
	var logs logBuffer
	a, proxyURL, _ := startApp(t, cfg, appOptions{Logf: logs.Logf})
	addr := a.adminLn.Addr().String()
	admin := "https://" + addr
	if want := "admin on https://" + addr; !strings.Contains(logs.String(), want) {
		t.Errorf("the start line does not say %q:\n%s", want, logs.String())
	}
	if strings.Contains(logs.String(), "warning") {
		t.Errorf("a warning with TLS on loopback:\n%s", logs.String())
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	get := func(path, key string) (int, string, *tls.ConnectionState) {
		t.Helper()
		req, err := http.NewRequest("GET", admin+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %s", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: cannot read the body: %s", path, err)
		}
		return resp.StatusCode, string(b), resp.TLS
	}
	st, body, cs := get("/healthz", "")
	if st != 200 || body != "ok\n" || cs == nil || cs.Version != tls.VersionTLS13 {
		t.Fatalf("GET /healthz over TLS: %d %q %+v", st, body, cs)
	}
	if st, body, _ := get("/api/organizations/acme/members", keyAlice); st != 200 || !strings.Contains(body, `"id":"alice"`) {
		t.Fatalf("GET members over TLS: %d %s", st, body)
	}
	if st, _, _ := get("/api/organizations/acme/members", "im-nobody"); st != 401 {
		t.Fatalf("a bad key over TLS: %d", st)
	}

	// Plain HTTP to the admin port: no HTTP answer.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("plain HTTP to the TLS admin listener answered %d", resp.StatusCode)
	}
	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(admin + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	// A client that does not trust the certificate fails the handshake.
	if resp, err := http.Get(admin + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("an untrusted certificate accepted")
	}

	// The live feed over wss receives a request event.
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: &tls.Config{RootCAs: pool}}
	ws, _, err := d.Dial("wss://"+addr+"/ws/analytics", http.Header{"Authorization": {"Bearer " + keyAlice}})
	if err != nil {
		t.Fatalf("cannot dial wss: %s", err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "org_id": "acme", "events": []string{"request"}}); err != nil {
		t.Fatal(err)
	}
	if ack := feedNext(t, ws); ack.Get("type").String() != "subscribed" {
		t.Fatalf("ack %s", ack.Raw)
	}
	if st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + keyBob},
		`{"model":"gpt-4o-mini","messages":[]}`); st != 200 {
		t.Fatalf("chat: %d %s", st, b)
	}
	if ev := feedEvent(t, ws); ev.Get("type").String() != "request" || ev.Get("user_id").String() != "bob" || ev.Get("model").String() != "openai/gpt-4o-mini" {
		t.Fatalf("event over wss: %s", ev.Raw)
	}
}

// TestAdminTLSBadFiles: a certificate or key that cannot be read or used
// stops the start with one line naming the key and the file.
func TestAdminTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	other := t.TempDir()
	_, otherKey, _ := selfSigned(t, other)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name, cert, key, want string
	}{
		{"missing cert", missing, keyFile, `admin_tls.cert: cannot read "` + missing + `": open ` + missing + `: no such file or directory`},
		{"missing key", certFile, missing, `admin_tls.key: cannot read "` + missing + `": open ` + missing + `: no such file or directory`},
		{"cert not PEM", garbage, keyFile, `admin_tls.cert: "` + garbage + `" holds no PEM certificate: tls: failed to find any PEM data in certificate input`},
		{"key not PEM", certFile, garbage, `admin_tls.key: "` + garbage + `" is not a PEM private key of the certificate "` + certFile + `": tls: failed to find any PEM data in key input`},
		{"key of another certificate", certFile, otherKey, `admin_tls.key: "` + otherKey + `" is not a PEM private key of the certificate "` + certFile + `": tls: private key does not match public key`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "http://127.0.0.1:9", t.TempDir(), "admin_tls: {cert: "+c.cert+", key: "+c.key+"}\n")
			a, err := newApp(cfg, appOptions{})
			if err == nil {
				_ = a.Close()
				t.Fatal("started")
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got %s\nwant %s", err, c.want)
			}
		})
	}
}

// TestAdminPlainWarning: a plain-HTTP admin listener beyond loopback logs
// a warning at start; on loopback, or with TLS, it does not.
func TestAdminPlainWarning(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	const warning = "is reachable beyond this host and serves plain HTTP: member keys would cross the network in clear; " +
		"set admin_tls or bind admin_listen to 127.0.0.1"
	cases := []struct {
		name, extra string
		warn        bool
	}{
		{"loopback", "", false},
		{"all interfaces", "admin_listen: \"0.0.0.0:0\"\n", true},
		{"all interfaces with TLS", "admin_listen: \"0.0.0.0:0\"\nadmin_tls: {cert: " + certFile + ", key: " + keyFile + "}\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "http://127.0.0.1:9", t.TempDir(), "")
			if c.extra != "" {
				// testConfig puts admin_listen first; a second one would be a
				// duplicate key, so the test sets the fields directly.
				cfg.AdminListen = "0.0.0.0:0"
				if strings.Contains(c.extra, "admin_tls") {
					cfg.AdminTLS.Cert, cfg.AdminTLS.Key = certFile, keyFile
				}
			}
			var logs logBuffer
			startApp(t, cfg, appOptions{Logf: logs.Logf})
			if got := strings.Contains(logs.String(), warning); got != c.warn {
				t.Fatalf("warning logged: %v, want %v:\n%s", got, c.warn, logs.String())
			}
		})
	}
}

// logBuffer collects an app's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Logf appends one line.
func (l *logBuffer) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
	l.b.WriteByte('\n')
}

// String returns every line so far.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
