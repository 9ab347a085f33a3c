// Package fleet_test checks the fleet example's configs against the config
// package: both roles load and validate with the environment the manifests
// give them.
package fleet_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/infermeter/infermeter/config"
)

func TestFleetConfigsLoad(t *testing.T) {
	raw, err := os.ReadFile("configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatalf("configmap.yaml: %s", err)
	}
	env := map[string]string{
		"POD_NAME": "chat-app-7d9f-abcde", "OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a",
		"INFERMETER_APP_KEY": "im-app", "INFERMETER_ADMIN_KEY": "im-admin",
	}
	for key, role := range map[string]string{"sidecar.yaml": "sidecar", "aggregator.yaml": "aggregator"} {
		text, ok := cm.Data[key]
		if !ok {
			t.Fatalf("configmap.yaml has no %s", key)
		}
		path := filepath.Join(t.TempDir(), key)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: %s", key, err)
		}
		f := cfg.Fleet
		if f.NATSURL != "nats://nats:4222" || f.Role != role || f.InstanceID != env["POD_NAME"] || f.Replicas != 3 {
			t.Fatalf("%s: fleet = %+v", key, f)
		}
	}
}
