// Package exampleenv gives every example the service to talk to: Azure Web
// PubSub when AZURE_WEBPUBSUB_CONNECTION_STRING is set, else the emulator,
// started in-process on a free loopback port.
package exampleenv

import (
	"fmt"
	"os"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// Env is where an example runs.
type Env struct {
	// ConnectionString is the connection string of the service or emulator.
	ConnectionString string
	// Hub is the hub to use: AZURE_WEBPUBSUB_HUB, or the example's default.
	Hub string
	// Emulated reports whether the in-process emulator is in use.
	Emulated bool
	emu      *emulator.Emulator
}

// Setup returns the environment. defaultHub is used when AZURE_WEBPUBSUB_HUB
// is unset. Call Close when done.
func Setup(defaultHub string) (*Env, error) {
	hub := os.Getenv("AZURE_WEBPUBSUB_HUB")
	if hub == "" {
		hub = defaultHub
	}
	if cs := os.Getenv("AZURE_WEBPUBSUB_CONNECTION_STRING"); cs != "" {
		return &Env{ConnectionString: cs, Hub: hub}, nil
	}
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		return nil, err
	}
	if err := e.Start(); err != nil {
		return nil, fmt.Errorf("starting the emulator: %w", err)
	}
	return &Env{ConnectionString: e.ConnectionString(), Hub: hub, Emulated: true, emu: e}, nil
}

// Describe says where the example runs, without any secret.
func (e *Env) Describe() string {
	if e.Emulated {
		return "the in-process emulator at " + e.emu.URL()
	}
	return "the service in AZURE_WEBPUBSUB_CONNECTION_STRING"
}

// Close stops the emulator, if one was started.
func (e *Env) Close() error {
	if e.emu != nil {
		return e.emu.Close()
	}
	return nil
}
