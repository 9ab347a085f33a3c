// Package kubernetes_test checks the Kubernetes example and the Dockerfile
// against the code they deploy: kubeconform needs its schemas from the
// internet, so the manifests are decoded strictly (an unknown or misspelt
// field fails) into the subset of the Kubernetes types they use, and checked
// against the config package (defaults, the real parser and Validate), the
// admin API's routes and each other.
package kubernetes_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/goccy/go-yaml"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/api"
	"github.com/infermeter/infermeter/config"
)

// The subset of the Kubernetes and Prometheus Operator types the manifests
// use. Decoding is strict, so a field missing here is a field the manifests
// may not use without adding it (and a check) here.
type (
	meta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	TypeMeta struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
	}
	deployment struct {
		TypeMeta `yaml:",inline"`
		Spec     struct {
			Replicas int           `yaml:"replicas"`
			Selector labelSelector `yaml:"selector"`
			Template struct {
				Metadata meta    `yaml:"metadata"`
				Spec     podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int               `yaml:"terminationGracePeriodSeconds"`
		AutomountServiceAccountToken  *bool              `yaml:"automountServiceAccountToken"`
		SecurityContext               podSecurityContext `yaml:"securityContext"`
		Containers                    []container        `yaml:"containers"`
		Volumes                       []volume           `yaml:"volumes"`
	}
	podSecurityContext struct {
		RunAsNonRoot   *bool          `yaml:"runAsNonRoot"`
		RunAsUser      *int64         `yaml:"runAsUser"`
		RunAsGroup     *int64         `yaml:"runAsGroup"`
		FSGroup        *int64         `yaml:"fsGroup"`
		SeccompProfile seccompProfile `yaml:"seccompProfile"`
	}
	seccompProfile struct {
		Type string `yaml:"type"`
	}
	securityContext struct {
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		RunAsGroup               *int64 `yaml:"runAsGroup"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
		SeccompProfile seccompProfile `yaml:"seccompProfile"`
	}
	container struct {
		Name            string          `yaml:"name"`
		Image           string          `yaml:"image"`
		Args            []string        `yaml:"args"`
		Ports           []containerPort `yaml:"ports"`
		Env             []envVar        `yaml:"env"`
		VolumeMounts    []volumeMount   `yaml:"volumeMounts"`
		StartupProbe    *probe          `yaml:"startupProbe"`
		ReadinessProbe  *probe          `yaml:"readinessProbe"`
		LivenessProbe   *probe          `yaml:"livenessProbe"`
		Lifecycle       *lifecycle      `yaml:"lifecycle"`
		Resources       resources       `yaml:"resources"`
		SecurityContext securityContext `yaml:"securityContext"`
	}
	containerPort struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	}
	envVar struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		InitialDelaySeconds int `yaml:"initialDelaySeconds"`
		PeriodSeconds       int `yaml:"periodSeconds"`
		TimeoutSeconds      int `yaml:"timeoutSeconds"`
		FailureThreshold    int `yaml:"failureThreshold"`
	}
	lifecycle struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	}
	resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
		EmptyDir *struct {
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	}
	configMap struct {
		TypeMeta `yaml:",inline"`
		Data     map[string]string `yaml:"data"`
	}
	secret struct {
		TypeMeta   `yaml:",inline"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}
	service struct {
		TypeMeta `yaml:",inline"`
		Spec     struct {
			Type     string            `yaml:"type"`
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
				Protocol   string `yaml:"protocol"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	serviceMonitor struct {
		TypeMeta `yaml:",inline"`
		Spec     struct {
			Selector  labelSelector `yaml:"selector"`
			Endpoints []struct {
				Port          string `yaml:"port"`
				Path          string `yaml:"path"`
				Interval      string `yaml:"interval"`
				ScrapeTimeout string `yaml:"scrapeTimeout"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
)

// manifests are the decoded files of this directory.
type manifests struct {
	deploy  deployment
	cm      configMap
	secret  secret
	svc     service
	monitor serviceMonitor
}

// decode strictly decodes a one-document YAML file into v.
func decode(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n---")); n > 0 {
		t.Fatalf("%s: %d extra YAML documents; keep one per file", file, n)
	}
	if err := yaml.UnmarshalWithOptions(b, v, yaml.Strict()); err != nil {
		t.Fatalf("cannot decode %s: %s", file, err)
	}
}

func load(t *testing.T) *manifests {
	t.Helper()
	var m manifests
	files := map[string]any{
		"deployment.yaml":     &m.deploy,
		"configmap.yaml":      &m.cm,
		"secret.example.yaml": &m.secret,
		"service.yaml":        &m.svc,
		"servicemonitor.yaml": &m.monitor,
	}
	// Every manifest here is checked: none may be added without a check.
	found, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		if files[f] == nil {
			t.Errorf("%s: a manifest this test does not check", f)
		}
	}
	for f, v := range files {
		decode(t, f, v)
	}
	return &m
}

func (m *manifests) container(t *testing.T, name string) *container {
	t.Helper()
	for i := range m.deploy.Spec.Template.Spec.Containers {
		if c := &m.deploy.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("deployment.yaml: no container %q", name)
	return nil
}

func (m *manifests) volume(t *testing.T, name string) *volume {
	t.Helper()
	for i := range m.deploy.Spec.Template.Spec.Volumes {
		if v := &m.deploy.Spec.Template.Spec.Volumes[i]; v.Name == name {
			return v
		}
	}
	t.Fatalf("deployment.yaml: no volume %q", name)
	return nil
}

// port returns the container port named name.
func (c *container) port(t *testing.T, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %q: no port named %q", c.Name, name)
	return 0
}

// mount returns the volume mount of c at path, or nil.
func (c *container) mount(path string) *volumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func (c *container) env(name string) *envVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// listenPort returns the port of a host:port listen address.
func listenPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("cannot split %q: %s", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("port of %q: %s", addr, err)
	}
	return n
}

// dummyEnv returns a getenv giving "dummy-NAME" for every variable the
// sidecar's env sets, and "" for the others.
func dummyEnv(c *container) func(string) string {
	return func(name string) string {
		if c.env(name) != nil {
			return "dummy-" + name
		}
		return ""
	}
}

// sidecarConfig parses the ConfigMap's infermeter.yaml with the real
// loader (decode and Validate), the sidecar's env variables set to dummies.
func sidecarConfig(t *testing.T, m *manifests) *config.Config {
	t.Helper()
	text, ok := m.cm.Data["infermeter.yaml"]
	if !ok {
		t.Fatal("configmap.yaml: no data key infermeter.yaml")
	}
	path := filepath.Join(t.TempDir(), "infermeter.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, dummyEnv(m.container(t, "infermeter")))
	if err != nil {
		t.Fatalf("configmap.yaml: the embedded config does not load: %s", err)
	}
	return cfg
}

func TestKindsAndAPIVersions(t *testing.T) {
	m := load(t)
	for _, c := range []struct {
		file             string
		got              TypeMeta
		apiVersion, kind string
		name             string
	}{
		{"deployment.yaml", m.deploy.TypeMeta, "apps/v1", "Deployment", "chat-app"},
		{"configmap.yaml", m.cm.TypeMeta, "v1", "ConfigMap", "infermeter-config"},
		{"secret.example.yaml", m.secret.TypeMeta, "v1", "Secret", "infermeter-keys"},
		{"service.yaml", m.svc.TypeMeta, "v1", "Service", "infermeter-admin"},
		{"servicemonitor.yaml", m.monitor.TypeMeta, "monitoring.coreos.com/v1", "ServiceMonitor", "infermeter"},
	} {
		if c.got.APIVersion != c.apiVersion || c.got.Kind != c.kind || c.got.Metadata.Name != c.name {
			t.Errorf("%s: %s %s %q, want %s %s %q", c.file, c.got.APIVersion, c.got.Kind, c.got.Metadata.Name, c.apiVersion, c.kind, c.name)
		}
	}
	if m.secret.Type != "Opaque" {
		t.Errorf("secret.example.yaml: type %q, want Opaque", m.secret.Type)
	}
	d := m.deploy.Spec
	if !mapsSubset(d.Selector.MatchLabels, d.Template.Metadata.Labels) || len(d.Selector.MatchLabels) == 0 {
		t.Errorf("deployment.yaml: selector %v does not match the pod labels %v", d.Selector.MatchLabels, d.Template.Metadata.Labels)
	}
	names := []string{}
	for _, c := range d.Template.Spec.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"app", "infermeter"}) {
		t.Errorf("deployment.yaml: containers %v, want [app infermeter]", names)
	}
}

// TestPortsMatchConfig: the container ports are the config defaults'
// ports, and so are the ConfigMap's listen addresses; the app reaches the
// proxy on localhost; the admin listener is reachable from outside the pod.
func TestPortsMatchConfig(t *testing.T) {
	m := load(t)
	cfg := sidecarConfig(t, m)
	def := config.Default(nil)
	side := m.container(t, "infermeter")
	proxyPort, adminPort := listenPort(t, def.ProxyListen), listenPort(t, def.AdminListen)
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"default proxy_listen port", proxyPort, 8080},
		{"default admin_listen port", adminPort, 9090},
		{"containerPort proxy", side.port(t, "proxy"), proxyPort},
		{"containerPort admin", side.port(t, "admin"), adminPort},
		{"configmap proxy_listen port", listenPort(t, cfg.ProxyListen), proxyPort},
		{"configmap admin_listen port", listenPort(t, cfg.AdminListen), adminPort},
		{"service port admin", m.svc.Spec.Ports[0].Port, adminPort},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	if len(side.Ports) != 2 {
		t.Errorf("sidecar ports %+v, want proxy and admin only", side.Ports)
	}
	if host, _, _ := net.SplitHostPort(cfg.AdminListen); host != "" {
		t.Errorf("configmap admin_listen %q: want all interfaces (the kubelet probes the pod IP)", cfg.AdminListen)
	}
	if host, _, _ := net.SplitHostPort(cfg.ProxyListen); host != "127.0.0.1" {
		t.Errorf("configmap proxy_listen %q: want loopback, for the app in the pod only", cfg.ProxyListen)
	}
	app := m.container(t, "app")
	for name, want := range map[string]string{
		"OPENAI_BASE_URL":    fmt.Sprintf("http://localhost:%d/v1", proxyPort),
		"ANTHROPIC_BASE_URL": fmt.Sprintf("http://localhost:%d", proxyPort),
	} {
		if e := app.env(name); e == nil || e.Value != want {
			t.Errorf("app env %s = %+v, want %q", name, e, want)
		}
	}
}

// TestProbes: the probes use the admin port by name and paths the admin API
// answers 200 on (asked of the real handler).
func TestProbes(t *testing.T) {
	m := load(t)
	side := m.container(t, "infermeter")
	a := api.New(api.Options{Ready: func() bool { return true }})
	for _, c := range []struct {
		name string
		p    *probe
		path string
	}{
		{"startupProbe", side.StartupProbe, "/healthz"},
		{"readinessProbe", side.ReadinessProbe, "/readyz"},
		{"livenessProbe", side.LivenessProbe, "/healthz"},
	} {
		if c.p == nil || c.p.HTTPGet == nil {
			t.Errorf("%s: missing or not httpGet", c.name)
			continue
		}
		if c.p.HTTPGet.Path != c.path || c.p.HTTPGet.Port != "admin" {
			t.Errorf("%s: GET %s on %q, want %s on the admin port", c.name, c.p.HTTPGet.Path, c.p.HTTPGet.Port, c.path)
		}
		if st := serve(a, c.p.HTTPGet.Path); st != fasthttp.StatusOK {
			t.Errorf("%s: the admin API answers %s with %d, want 200", c.name, c.p.HTTPGet.Path, st)
		}
	}
	if st := serve(a, m.monitor.Spec.Endpoints[0].Path); st != fasthttp.StatusOK {
		t.Errorf("servicemonitor path %s: the admin API answers %d, want 200", m.monitor.Spec.Endpoints[0].Path, st)
	}
	// /readyz fails when not ready (it turns 503 at SIGTERM), /healthz does not.
	notReady := api.New(api.Options{Ready: func() bool { return false }})
	if st := serve(notReady, "/readyz"); st != fasthttp.StatusServiceUnavailable {
		t.Errorf("/readyz while not ready: %d, want 503", st)
	}
	if st := serve(notReady, "/healthz"); st != fasthttp.StatusOK {
		t.Errorf("/healthz while not ready: %d, want 200", st)
	}
	// The liveness probe must not kill a pod that is starting: the startup
	// probe gives it failureThreshold × periodSeconds first.
	if s := side.StartupProbe; s.FailureThreshold*s.PeriodSeconds < 60 {
		t.Errorf("startupProbe allows %ds to start, want at least 60s", s.FailureThreshold*s.PeriodSeconds)
	}
}

func serve(a *api.API, path string) int {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	ctx.Request.SetRequestURI(path)
	a.Handler(&ctx)
	return ctx.Response.StatusCode()
}

// TestVolumes: the config is the ConfigMap, mounted read-only where the
// image's ENTRYPOINT reads it; data_dir is a writable mounted volume while
// the root filesystem is read-only.
func TestVolumes(t *testing.T) {
	m := load(t)
	cfg := sidecarConfig(t, m)
	side := m.container(t, "infermeter")
	df := parseDockerfile(t)

	if got := df.entrypoint; len(got) != 3 || got[1] != "-config" {
		t.Fatalf("Dockerfile ENTRYPOINT %q, want [binary -config path]", got)
	}
	cfgPath := df.entrypoint[2]
	cm := side.mount(filepath.Dir(cfgPath))
	if cm == nil || !cm.ReadOnly {
		t.Fatalf("sidecar: no read-only mount at %s (the ENTRYPOINT's -config %s)", filepath.Dir(cfgPath), cfgPath)
	}
	v := m.volume(t, cm.Name)
	if v.ConfigMap == nil || v.ConfigMap.Name != m.cm.Metadata.Name || len(v.ConfigMap.Items) != 1 ||
		v.ConfigMap.Items[0].Key != "infermeter.yaml" || v.ConfigMap.Items[0].Path != filepath.Base(cfgPath) {
		t.Errorf("volume %q: %+v, want ConfigMap %s with infermeter.yaml at %s", v.Name, v.ConfigMap, m.cm.Metadata.Name, filepath.Base(cfgPath))
	}

	if cfg.DataDir != "/var/lib/infermeter" {
		t.Errorf("configmap data_dir %q, want /var/lib/infermeter", cfg.DataDir)
	}
	dm := side.mount(cfg.DataDir)
	if dm == nil || dm.ReadOnly {
		t.Fatalf("sidecar: data_dir %s is not a writable mounted volume", cfg.DataDir)
	}
	dv := m.volume(t, dm.Name)
	if (dv.EmptyDir == nil) == (dv.PersistentVolumeClaim == nil) {
		t.Errorf("volume %q: want exactly one of emptyDir or persistentVolumeClaim", dv.Name)
	}
	if dv.EmptyDir != nil && dv.EmptyDir.SizeLimit == "" {
		t.Errorf("volume %q: emptyDir without sizeLimit", dv.Name)
	}
	if !slices.Contains(df.volumes, cfg.DataDir) {
		t.Errorf("Dockerfile VOLUME %v lacks data_dir %s", df.volumes, cfg.DataDir)
	}
	if ro := side.SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
		t.Error("sidecar: root filesystem not read-only")
	}
	// No other writable mount: the data volume is the only place it writes.
	for _, vm := range side.VolumeMounts {
		if !vm.ReadOnly && vm.MountPath != cfg.DataDir {
			t.Errorf("sidecar: writable mount %s besides data_dir", vm.MountPath)
		}
	}
}

// Fixed steps of the binary's shutdown after the proxy's drain: the admin
// listener's drain (app.go) and the alert deliveries in flight (the alert
// engine's Close).
const (
	adminDrain      = 5 * time.Second
	alertCloseGrace = 10 * time.Second
)

// TestGracePeriod: terminationGracePeriodSeconds covers the preStop sleep,
// the drain (shutdown_timeout), the admin listener's drain, the alert
// deliveries in flight and the last flush (flush_interval), as the comment
// in deployment.yaml adds them up.
func TestGracePeriod(t *testing.T) {
	m := load(t)
	cfg := sidecarConfig(t, m)
	spec := m.deploy.Spec.Template.Spec
	preStop := func(c *container) time.Duration {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
			t.Fatalf("container %q: no preStop sleep", c.Name)
		}
		return time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	side, app := preStop(m.container(t, "infermeter")), preStop(m.container(t, "app"))
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("deployment.yaml: no terminationGracePeriodSeconds")
	}
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	for _, c := range []struct {
		what      string
		got, want time.Duration
	}{
		{"terminationGracePeriodSeconds", grace, 75 * time.Second},
		{"sidecar preStop sleep", side, 10 * time.Second},
		{"app preStop sleep", app, 5 * time.Second},
		{"shutdown_timeout", cfg.ShutdownTimeout, 30 * time.Second},
		{"flush_interval", cfg.FlushInterval, time.Second},
		{"default shutdown_timeout", config.Default(nil).ShutdownTimeout, cfg.ShutdownTimeout},
		{"default flush_interval", config.Default(nil).FlushInterval, cfg.FlushInterval},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
		}
	}
	need := side + cfg.ShutdownTimeout + adminDrain + alertCloseGrace + cfg.FlushInterval
	if need != 56*time.Second {
		t.Errorf("preStop + shutdown_timeout + admin drain + alert deliveries + flush_interval = %s, want the 56s of deployment.yaml's comment", need)
	}
	if grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s <= preStop %s + shutdown_timeout %s + admin drain %s + alert deliveries %s + flush_interval %s = %s",
			grace, side, cfg.ShutdownTimeout, adminDrain, alertCloseGrace, cfg.FlushInterval, need)
	}
	if app >= side {
		t.Errorf("app preStop %s >= sidecar preStop %s: the app must get SIGTERM first", app, side)
	}
}

func TestSecurityContext(t *testing.T) {
	m := load(t)
	df := parseDockerfile(t)
	pod := m.deploy.Spec.Template.Spec
	uid, gid, ok := strings.Cut(df.user, ":")
	if !ok {
		t.Fatalf("Dockerfile USER %q, want uid:gid", df.user)
	}
	wantUID, _ := strconv.ParseInt(uid, 10, 64)
	wantGID, _ := strconv.ParseInt(gid, 10, 64)
	ps := pod.SecurityContext
	for _, c := range []struct {
		what string
		got  any
		want any
	}{
		{"pod runAsNonRoot", deref(ps.RunAsNonRoot), true},
		{"pod runAsUser", deref(ps.RunAsUser), wantUID},
		{"pod runAsGroup", deref(ps.RunAsGroup), wantGID},
		{"pod fsGroup", deref(ps.FSGroup), wantGID},
		{"pod seccompProfile", ps.SeccompProfile.Type, "RuntimeDefault"},
		{"automountServiceAccountToken", deref(pod.AutomountServiceAccountToken), false},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, name := range []string{"app", "infermeter"} {
		sc := m.container(t, name).SecurityContext
		for _, c := range []struct {
			what string
			got  any
			want any
		}{
			{"runAsNonRoot", deref(sc.RunAsNonRoot), true},
			{"allowPrivilegeEscalation", deref(sc.AllowPrivilegeEscalation), false},
			{"readOnlyRootFilesystem", deref(sc.ReadOnlyRootFilesystem), true},
			{"capabilities.drop", strings.Join(sc.Capabilities.Drop, ","), "ALL"},
			{"seccompProfile", sc.SeccompProfile.Type, "RuntimeDefault"},
		} {
			if c.got != c.want {
				t.Errorf("container %s: %s = %v, want %v", name, c.what, c.got, c.want)
			}
		}
	}
	side := m.container(t, "infermeter").SecurityContext
	if deref(side.RunAsUser) != wantUID || deref(side.RunAsGroup) != wantGID {
		t.Errorf("sidecar runs as %d:%d, want the image's USER %s", deref(side.RunAsUser), deref(side.RunAsGroup), df.user)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestResources: requests and limits are set; Go's soft memory limit sits
// below the container's.
func TestResources(t *testing.T) {
	m := load(t)
	for _, c := range []struct {
		container string
		requests  map[string]string
		limits    map[string]string
	}{
		{"app", map[string]string{"cpu": "100m", "memory": "128Mi"}, map[string]string{"memory": "256Mi"}},
		{"infermeter", map[string]string{"cpu": "100m", "memory": "128Mi"}, map[string]string{"cpu": "1", "memory": "512Mi"}},
	} {
		r := m.container(t, c.container).Resources
		if !mapsEqual(r.Requests, c.requests) || !mapsEqual(r.Limits, c.limits) {
			t.Errorf("container %s: resources %+v, want requests %v limits %v", c.container, r, c.requests, c.limits)
		}
	}
	side := m.container(t, "infermeter")
	limit := mebibytes(t, side.Resources.Limits["memory"], "Mi")
	e := side.env("GOMEMLIMIT")
	if e == nil {
		t.Fatal("sidecar: no GOMEMLIMIT")
	}
	if soft := mebibytes(t, e.Value, "MiB"); soft >= limit || soft < limit*3/4 {
		t.Errorf("GOMEMLIMIT %s: want between 75%% and 100%% of the memory limit %dMi", e.Value, limit)
	}
}

func mebibytes(t *testing.T, s, unit string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
	if err != nil || !strings.HasSuffix(s, unit) {
		t.Fatalf("cannot parse %q as %s", s, unit)
	}
	return n
}

// TestServiceAndMonitor: the Service selects the pods and targets the admin
// port by name; the ServiceMonitor selects the Service and scrapes /metrics
// on that port.
func TestServiceAndMonitor(t *testing.T) {
	m := load(t)
	podLabels := m.deploy.Spec.Template.Metadata.Labels
	s := m.svc.Spec
	if !mapsSubset(s.Selector, podLabels) || len(s.Selector) == 0 {
		t.Errorf("service.yaml: selector %v does not select the pods %v", s.Selector, podLabels)
	}
	if len(s.Ports) != 1 || s.Ports[0].Name != "admin" || s.Ports[0].TargetPort != "admin" || s.Ports[0].Protocol != "TCP" || s.Type != "ClusterIP" {
		t.Errorf("service.yaml: %s ports %+v, want one ClusterIP port admin → targetPort admin", s.Type, s.Ports)
	}
	sel := m.monitor.Spec.Selector.MatchLabels
	if !mapsSubset(sel, m.svc.Metadata.Labels) || len(sel) == 0 {
		t.Errorf("servicemonitor.yaml: selector %v does not select the Service labels %v", sel, m.svc.Metadata.Labels)
	}
	eps := m.monitor.Spec.Endpoints
	if len(eps) != 1 || eps[0].Port != s.Ports[0].Name || eps[0].Path != "/metrics" || eps[0].Interval != "30s" || eps[0].ScrapeTimeout != "10s" {
		t.Errorf("servicemonitor.yaml: endpoints %+v, want port admin path /metrics every 30s", eps)
	}
}

// TestSecretsAndEnv: every secretKeyRef names the example Secret and one of
// its keys, and every ${VAR} of the embedded config is set by the sidecar's
// env (so none silently expands to "").
func TestSecretsAndEnv(t *testing.T) {
	m := load(t)
	refs := 0
	for _, c := range m.deploy.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			refs++
			r := e.ValueFrom.SecretKeyRef
			if _, ok := m.secret.StringData[r.Key]; !ok || r.Name != m.secret.Metadata.Name {
				t.Errorf("container %s env %s: secret %s key %s is not in secret.example.yaml", c.Name, e.Name, r.Name, r.Key)
			}
		}
	}
	if refs != 7 {
		t.Errorf("%d secretKeyRefs, want 7 (2 in the app, 5 in the sidecar)", refs)
	}
	side := m.container(t, "infermeter")
	vars := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`).FindAllStringSubmatch(m.cm.Data["infermeter.yaml"], -1)
	if len(vars) != 5 {
		t.Errorf("the embedded config uses %d ${VAR}, want 5", len(vars))
	}
	for _, v := range vars {
		if e := side.env(v[1]); e == nil && v[2] == "" {
			t.Errorf("the embedded config uses ${%s}, which the sidecar's env does not set", v[1])
		}
	}
	// The expanded config carries the dummies: provider keys swapped in, members keyed.
	cfg := sidecarConfig(t, m)
	for _, u := range cfg.Upstreams {
		if !strings.HasPrefix(u.APIKey, "dummy-") {
			t.Errorf("upstream %s: api_key %q not from the env", u.Name, u.APIKey)
		}
	}
	if got := len(cfg.Orgs); got != 1 || len(cfg.Orgs[0].Members) != 2 {
		t.Fatalf("orgs %+v, want one org with 2 members", cfg.Orgs)
	}
	if k := cfg.Orgs[0].Members[0].APIKey; k != "dummy-INFERMETER_APP_KEY" {
		t.Errorf("app member key %q, want dummy-INFERMETER_APP_KEY", k)
	}
	// The app's SDKs authenticate with the app member's key.
	app := m.container(t, "app")
	for _, name := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY"} {
		e := app.env(name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != "app-member-key" {
			t.Errorf("app env %s: want the secret key app-member-key", name)
		}
	}
	if e := side.env("INFERMETER_APP_KEY"); e == nil || e.ValueFrom.SecretKeyRef.Key != "app-member-key" {
		t.Error("sidecar env INFERMETER_APP_KEY: want the secret key app-member-key")
	}
}

// dockerfile is what TestDockerfile and the others read of the Dockerfile.
type dockerfile struct {
	args       map[string]string // ARG name → default
	stages     []stage
	user       string // of the final stage
	expose     []int
	volumes    []string
	entrypoint []string
}

type stage struct {
	from, name string
	runs       []string
	copies     []string
}

// parseDockerfile reads ../../Dockerfile: comments dropped, continuation
// lines joined.
func parseDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df := &dockerfile{args: map[string]string{}}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		var st *stage
		if n := len(df.stages); n > 0 {
			st = &df.stages[n-1]
		}
		switch strings.ToUpper(instr) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			df.args[k] = v
		case "FROM":
			from, name, _ := strings.Cut(rest, " AS ")
			df.stages = append(df.stages, stage{from: from, name: name})
		case "RUN":
			st.runs = append(st.runs, rest)
		case "COPY":
			st.copies = append(st.copies, rest)
		case "USER":
			df.user = rest
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("Dockerfile EXPOSE %q: %s", p, err)
				}
				df.expose = append(df.expose, n)
			}
		case "VOLUME":
			if err := json.Unmarshal([]byte(rest), &df.volumes); err != nil {
				t.Fatalf("Dockerfile VOLUME %s: want the JSON form: %s", rest, err)
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &df.entrypoint); err != nil {
				t.Fatalf("Dockerfile ENTRYPOINT %s: want the JSON (exec) form: %s", rest, err)
			}
		case "WORKDIR", "ENV", "LABEL":
		default:
			t.Fatalf("Dockerfile: unexpected instruction %q", l)
		}
	}
	return df
}

func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t)
	if len(df.stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want 2 (build, runtime)", len(df.stages))
	}
	build, final := df.stages[0], df.stages[1]

	// The build image's Go is go.mod's.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod: no go directive")
	}
	if build.from != "golang:${GO_VERSION}" || build.name != "build" || df.args["GO_VERSION"] != string(goLine[1]) {
		t.Errorf("Dockerfile build stage FROM %q AS %q with GO_VERSION %q, want golang:${GO_VERSION} AS build with %s (go.mod)",
			build.from, build.name, df.args["GO_VERSION"], goLine[1])
	}
	var goBuild string
	for _, r := range build.runs {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "-o /out/infermeter ."} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("Dockerfile go build %q lacks %s", goBuild, want)
		}
	}

	if final.from != "scratch" {
		t.Errorf("Dockerfile final stage FROM %q, want scratch", final.from)
	}
	if len(final.runs) != 0 {
		t.Errorf("Dockerfile final stage has RUN %q: the base image has no shell", final.runs)
	}
	uid, _, _ := strings.Cut(df.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("Dockerfile USER %q, want a numeric non-root uid (runAsNonRoot checks it)", df.user)
	}
	def := config.Default(nil)
	if want := []int{listenPort(t, def.ProxyListen), listenPort(t, def.AdminListen)}; !slices.Equal(df.expose, want) {
		t.Errorf("Dockerfile EXPOSE %v, want %v (proxy_listen, admin_listen defaults)", df.expose, want)
	}
	want := []string{"/usr/local/bin/infermeter", "-config", "/etc/infermeter/infermeter.yaml"}
	if !slices.Equal(df.entrypoint, want) {
		t.Errorf("Dockerfile ENTRYPOINT %q, want %q", df.entrypoint, want)
	}
	if !slices.Contains(final.copies, "--from=build /out/infermeter "+df.entrypoint[0]) {
		t.Errorf("Dockerfile final stage COPY %q: the binary is not copied to %s", final.copies, df.entrypoint[0])
	}
	if !slices.Contains(final.copies, "--from=build --chown="+df.user+" /out/data /var/lib/infermeter") {
		t.Errorf("Dockerfile final stage COPY %q: the data directory is not owned by %s", final.copies, df.user)
	}
}

// TestDockerignore: the build context leaves out what the build does not need
// (the repository, build output, local data) and keeps what it embeds.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			pats = append(pats, l)
		}
	}
	for _, p := range []string{".git", "bin", "data", "demo-data", "/infermeter"} {
		if !slices.Contains(pats, p) {
			t.Errorf(".dockerignore lacks %s", p)
		}
	}
	// The embedded files (go:embed) must stay in the context.
	for _, p := range pats {
		for _, keep := range []string{"dashboard/assets", "meter/pricing", "go.mod", "go.sum", "*.go"} {
			if p == keep || strings.HasPrefix(keep, p+"/") {
				t.Errorf(".dockerignore excludes %s, which the build needs", keep)
			}
		}
	}
}

func mapsSubset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

func mapsEqual(a, b map[string]string) bool { return len(a) == len(b) && mapsSubset(a, b) }
