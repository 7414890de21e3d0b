//go:build unix

package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeyFileNotRegular: a key file that is a FIFO (nobody writing to it),
// a link to one, or a device is refused at once with the reason, instead
// of start-up waiting in open(2) or read(2) for ever (a FIFO without a
// writer blocked the open, and SIGTERM could not end the process).
func TestKeyFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "master.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"FIFO", fifo, "is not a regular file (a FIFO)"},
		{"link to a FIFO", link, "is not a regular file (a FIFO)"},
		{"character device", os.DevNull, "is not a regular file (a character device)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := readKeyFile("--master-key-file", tt.path, "linux", slog.New(slog.NewTextHandler(io.Discard, nil)))
				done <- err
			}()
			select {
			case err := <-done:
				want := "--master-key-file " + tt.path + ": " + tt.want
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("readKeyFile error %v; want %q", err, want)
				}
			case <-time.After(10 * time.Second):
				// The goroutine stays blocked; opening the FIFO for writing
				// frees it before the test ends.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatal("readKeyFile did not return within 10 s: start-up would hang")
			}
		})
	}
}

// TestTLSFilesNotRegular: a FIFO given as the TLS certificate, its key or
// the ACME CA roots is refused at once, as a key file is, where reading it
// (os.ReadFile) waited for a writer for ever.
func TestTLSFilesNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	plain := filepath.Join(dir, "plain.pem")
	writeFile(t, plain, "not PEM\n", 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"certificate", []string{"--tls-cert", fifo, "--tls-key", plain}, "TLS certificate: open " + fifo + ": is not a regular file (a FIFO)"},
		{"key", []string{"--tls-cert", plain, "--tls-key", fifo}, "TLS key: open " + fifo + ": is not a regular file (a FIFO)"},
		{"ACME CA roots", []string{"--acme-domain", "chat.example", "--acme-cache", filepath.Join(dir, "acme"), "--acme-ca-roots", fifo},
			"ACME CA roots: open " + fifo + ": is not a regular file (a FIFO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				done <- run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, tt.args...), noEnv, io.Discard, io.Discard)
			}()
			select {
			case err := <-done:
				if err == nil || err.Error() != tt.want {
					t.Errorf("run = %v; want %q", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatal("run did not return within 10 s: start-up would hang")
			}
		})
	}
}
