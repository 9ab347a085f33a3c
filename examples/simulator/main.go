// Command simulator runs the simulated LLM provider of package sim (OpenAI,
// Anthropic and Gemini dialects) for demos and load tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	ttft := flag.Duration("ttft", 0, "delay before the first event of a stream")
	gap := flag.Duration("gap", 0, "delay between two stream events")
	latency := flag.Duration("latency", 0, "delay of a non-streamed response")
	input := flag.Int64("input", sim.DefaultInputTokens, "default input tokens per request")
	output := flag.Int64("output", sim.DefaultOutputTokens, "default output tokens per request")
	chunks := flag.Int("chunks", sim.DefaultChunks, "content chunks per stream")
	errorRate := flag.Float64("error-rate", 0, "share of requests answered with 429 or 500 (0..1)")
	seed := flag.Uint64("seed", 1, "seed of the error sequence")
	flag.Parse()

	if err := run(*listen, sim.Options{
		InputTokens: *input, OutputTokens: *output, Chunks: *chunks,
		TTFT: *ttft, Gap: *gap, Latency: *latency,
		ErrorRate: *errorRate, Seed: *seed,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func run(addr string, opt sim.Options) error {
	if opt.ErrorRate < 0 || opt.ErrorRate > 1 {
		return fmt.Errorf("invalid -error-rate %v: want 0..1", opt.ErrorRate)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", addr, err)
	}
	s := sim.New(opt)
	fmt.Printf("simulator listening on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err = <-errc:
		_ = s.Close()
		return err
	case <-ctx.Done():
	}
	if err := s.Close(); err != nil {
		return err
	}
	return <-errc
}
