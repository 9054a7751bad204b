//go:build !unix

package emulator

import "time"

// processCPU is the CPU time this process has used; not measured here.
func processCPU() (time.Duration, bool) { return 0, false }
