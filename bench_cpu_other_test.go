//go:build !unix

package webpubsub

// processCPU cannot read the process CPU time on this platform.
func processCPU() (int64, bool) { return 0, false }
