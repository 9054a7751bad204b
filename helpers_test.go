package webpubsub

import (
	"fmt"
	"time"
)

// fixedClock is the signing clock of deterministic tests.
func fixedClock() time.Time { return time.Unix(1700000000, 0) }

func sprint(format string, v any) string { return fmt.Sprintf(format, v) }
