//go:build !unix

package webdriver

import "os/exec"

func prepareCommand(*exec.Cmd) {}

// killCommand kills cmd. Without process groups, a browser it started
// ends when chromedriver's session ends (see newSession's cleanup).
func killCommand(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}
