//go:build unix

package main

import (
	"os/signal"
	"syscall"
)

// ignoreFileSizeSignal: a file-size limit (RLIMIT_FSIZE) reached makes
// store writes fail with EFBIG, which the meter survives (events kept,
// flush retried); the SIGXFSZ that comes with it must not kill the process.
func ignoreFileSizeSignal() { signal.Ignore(syscall.SIGXFSZ) }
