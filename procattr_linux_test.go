package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill cmd's process if the test process dies
// first: a test binary killed by `go test -timeout` runs no t.Cleanup, and
// its nats-servers and nodes would live on.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
