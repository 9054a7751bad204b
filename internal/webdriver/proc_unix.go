//go:build unix

package webdriver

import (
	"os/exec"
	"syscall"
)

// prepareCommand starts cmd in a process group of its own, which the
// processes it starts (the browser's) join.
func prepareCommand(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killCommand kills cmd's process group: cmd and what it started.
func killCommand(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
