package kubernetes_test

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestImageRootfs runs what the image runs, without a container engine:
// the binary built with the Dockerfile's own build command, checked to be
// static, in a root filesystem laid out as the runtime stage lays it out
// (the binary, the CA certificates and the data directory owned by the
// image's user, nothing else: no shell, no libc, no zoneinfo), entered with
// chroot as the image's USER and started with its ENTRYPOINT. It must get
// ready, proxy and meter a request for an org in Europe/Berlin (the zone
// comes from the embedded tzdata), write its store only under data_dir
// (everything else is root's and read-only to it) and stop cleanly on
// SIGTERM. It needs root (for chroot) and Linux; it skips otherwise.
func TestImageRootfs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root (chroot)")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("needs chroot(8)")
	}
	df := parseDockerfile(t)
	uid, gid := imageUser(t, df.user)

	// The runtime stage's files.
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, df.entrypoint[0])
	buildLikeDockerfile(t, df, bin)
	checkStatic(t, bin)
	const dataDir = "/var/lib/infermeter"
	mkdir(t, filepath.Join(root, dataDir), 0o755)
	if err := os.Chown(filepath.Join(root, dataDir), uid, gid); err != nil {
		t.Fatal(err)
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		mkdir(t, filepath.Join(root, "etc/ssl/certs"), 0o755)
		if err := os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The mounted config (a ConfigMap in the pod), with loopback listeners
	// and the simulator as the provider.
	simSrv := sim.New(sim.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = simSrv.Serve(ln) }()
	t.Cleanup(func() { _ = simSrv.Close() })
	cfgPath := df.entrypoint[2]
	mkdir(t, filepath.Join(root, filepath.Dir(cfgPath)), 0o755)
	cfg := fmt.Sprintf(`proxy_listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
data_dir: %s
flush_interval: 100ms
upstreams:
  - {name: openai, dialect: openai, base_url: "http://%s", api_key: sk-image-test}
orgs:
  - id: acme
    name: Acme
    timezone: Europe/Berlin
    members:
      - {id: alice, email: alice@acme.example, role: admin, api_key: im-image-alice}
`, dataDir, ln.Addr())
	if err := os.WriteFile(filepath.Join(root, cfgPath), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// chroot --userspec=uid:gid root ENTRYPOINT...
	args := append([]string{"--userspec=" + df.user, root}, df.entrypoint...)
	cmd := exec.Command(chroot, args...)
	cmd.Env = []string{} // the image sets none
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	var logText strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// "infermeter: proxy on A, admin on http://B, data in D"
	ready := regexp.MustCompile(`proxy on (\S+), admin on http://(\S+), data in (\S+)`)
	var proxyAddr, adminAddr string
	deadline := time.After(60 * time.Second)
	for proxyAddr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the binary stopped before it was ready:\n%s", logText.String())
			}
			logText.WriteString(l + "\n")
			if m := ready.FindStringSubmatch(l); m != nil {
				proxyAddr, adminAddr = m[1], m[2]
				if m[3] != dataDir {
					t.Errorf("data in %s, want %s", m[3], dataDir)
				}
			}
		case <-deadline:
			t.Fatalf("not ready after 60s:\n%s", logText.String())
		}
	}
	go func() {
		for l := range lines {
			_ = l // keep the pipe drained
		}
	}()

	client := &http.Client{Timeout: 20 * time.Second}
	if st, body := get(t, client, "http://"+adminAddr+"/readyz", ""); st != 200 {
		t.Fatalf("/readyz: %d %s", st, body)
	}
	req, err := http.NewRequest("POST", "http://"+proxyAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer im-image-alice")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"usage"`) {
		t.Fatalf("proxied request: %d %s", resp.StatusCode, body)
	}
	// Metered and stored, under the org's Berlin day.
	day := time.Now().In(berlin(t)).Format(time.DateOnly)
	var usage struct {
		Overview struct {
			Requests int64 `json:"requests"`
		} `json:"overview"`
		Period struct {
			Timezone string `json:"timezone"`
		} `json:"period"`
	}
	waitFor(t, 15*time.Second, func() bool {
		st, b := get(t, client, "http://"+adminAddr+"/api/organizations/acme/usage?start_date="+day+"&end_date="+day, "im-image-alice")
		if st != 200 {
			t.Fatalf("usage: %d %s", st, b)
		}
		if err := json.Unmarshal([]byte(b), &usage); err != nil {
			t.Fatalf("usage: %s: %s", err, b)
		}
		return usage.Overview.Requests == 1
	})
	if usage.Period.Timezone != "Europe/Berlin" {
		t.Errorf("usage period in %q, want Europe/Berlin", usage.Period.Timezone)
	}

	// Stopped by SIGTERM (what the kubelet sends): a clean exit, and the
	// store written only under data_dir, owned by the image's user.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logText.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGTERM")
	}
	var written []string
	err = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) == uid {
			rel, _ := filepath.Rel(root, p)
			written = append(written, "/"+rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range written {
		if p != dataDir && !strings.HasPrefix(p, dataDir+"/") {
			t.Errorf("%s belongs to the image's user: only %s should", p, dataDir)
		}
	}
	if len(written) < 2 {
		t.Errorf("nothing written under %s: %q", dataDir, written)
	}
}

// imageUser parses the Dockerfile's USER uid:gid.
func imageUser(t *testing.T, user string) (int, int) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("Dockerfile USER %q, want numeric uid:gid", user)
	}
	return uid, gid
}

// buildLikeDockerfile runs the build stage's go build line, with its
// environment and flags, writing the binary to out.
func buildLikeDockerfile(t *testing.T, df *dockerfile, out string) {
	t.Helper()
	var line string
	for _, r := range df.stages[0].runs {
		if strings.Contains(r, "go build") {
			line = r
		}
	}
	line, _, _ = strings.Cut(line, "&&")
	env, rest, ok := strings.Cut(line, "go build")
	if !ok {
		t.Fatalf("Dockerfile: no go build in %q", line)
	}
	// -ldflags "-s -w" is the one quoted argument.
	rest = strings.Replace(rest, `-ldflags "-s -w"`, "-ldflags=-s_-w", 1)
	args := []string{"build"}
	for _, a := range strings.Fields(rest) {
		switch {
		case a == "-ldflags=-s_-w":
			a = "-ldflags=-s -w"
		case a == "-o":
			continue
		case a == "/out/infermeter":
			a = "-o=" + out
		case a == ".":
			a = "../.." // the module root: the build context
		}
		args = append(args, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), strings.Fields(env)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %s\n%s", strings.Join(args, " "), err, b)
	}
}

// checkStatic fails unless the ELF file at path needs no interpreter and no
// shared library (it runs on an empty image).
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not static", path)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q", path, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -ldflags -s was not applied", path)
	}
}

func mkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, mode); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *http.Client, url, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %s", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("not true after %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
