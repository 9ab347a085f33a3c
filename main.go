// Command infermeter is a reverse-proxy sidecar that meters LLM inference
// traffic. See README.md.
//
// main.go only wires: load the config, build the parts, start the
// listeners, wait for a signal, stop in reverse order.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // org timezones work on machines without a zoneinfo database

	"github.com/infermeter/infermeter/config"
)

func main() {
	configFlag := flag.String("config", "", "path of the YAML config file (default $INFERMETER_CONFIG, else embedded defaults)")
	check := flag.Bool("check", false, "validate the config and exit")
	flag.Parse()

	path := config.ResolvePath(*configFlag, os.Getenv)
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "infermeter: "+err.Error())
		os.Exit(2)
	}
	if *check {
		name := path
		if name == "" {
			name = "embedded defaults"
		}
		fmt.Printf("infermeter: %s is valid: %d upstreams, %d orgs\n", name, len(cfg.Upstreams), len(cfg.Orgs))
		return
	}

	ignoreFileSizeSignal()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	app, err := newApp(cfg, appOptions{Logf: logger.Printf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "infermeter: "+err.Error())
		os.Exit(1)
	}
	if err := app.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "infermeter: "+err.Error())
		_ = app.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	logger.Printf("infermeter: shutting down: draining in-flight requests (at most %s), then flushing", cfg.ShutdownTimeout)
	if err := app.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "infermeter: "+err.Error())
		os.Exit(1)
	}
	logger.Printf("infermeter: stopped cleanly")
}
