package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// reloadInterval is how often the configuration file is checked for
// changes.
var reloadInterval = 2 * time.Second

// watchConfig checks the configuration file at path every
// reloadInterval until ctx is done. When its content changed, the file is
// parsed again and the hubs' settings (event handlers, anonymous
// policy), with the -event-handler flags applied over them, replace the
// running emulator's; a file that does not parse or validate keeps the
// old settings and logs why. Other settings need a restart.
// loaded is the content the emulator was started with.
func watchConfig(ctx context.Context, path string, loaded []byte, e *emulator.Emulator, flags *handlerFlags, log *slog.Logger) {
	last := loaded
	t := time.NewTicker(reloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.Equal(b, last) {
			continue
		}
		last = b
		s := newSettings()
		if err := s.applyConfig(b); err != nil {
			log.Warn("the configuration file changed but is invalid; the previous settings stay", "file", path, "error", err.Error())
			continue
		}
		flags.apply(&s)
		if err := e.SetHubs(s.hubs); err != nil {
			log.Warn("the configuration file changed but its hubs are invalid; the previous settings stay", "file", path, "error", err.Error())
			continue
		}
		log.Info("configuration reloaded: the hubs' settings apply to new connections (other settings need a restart)", "file", path)
		logHandlers(log, s.hubs)
	}
}
