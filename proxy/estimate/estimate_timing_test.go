package estimate

import (
	"strings"
	"testing"
)

func BenchmarkCount1KB(b *testing.B) {
	text := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog; 42 times! ", 19)[:1024])
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		b.Run(model, func(b *testing.B) {
			e := New()
			if e.Count(model, text) == 0 {
				b.Fatal("zero count")
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				e.Count(model, text)
			}
		})
	}
}
