// Package exampleenv is what every example program shares, so that each
// main.go reads as its scenario: the service to talk to (Azure Web PubSub
// when AZURE_WEBPUBSUB_CONNECTION_STRING is set, else the emulator, started
// in-process on a free loopback port), a ServiceClient bound to the hub,
// webpubsubclient clients that record what they receive, and the helpers
// the examples' tests use to check their output.
package exampleenv

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// Timeout bounds a whole example run.
const Timeout = time.Minute

// Env is where an example runs.
type Env struct {
	// Hub is the hub to use: AZURE_WEBPUBSUB_HUB, or the example's default.
	Hub string
	// Service is a ServiceClient bound to Hub.
	Service *webpubsub.ServiceClient
	// Emulated reports whether the in-process emulator is in use.
	Emulated bool
	emu      *emulator.Emulator
	connStr  string
	clients  []*Client // connected by Connect and ConnectAll, closed by Close
}

// Setup returns the environment: Azure Web PubSub when
// AZURE_WEBPUBSUB_CONNECTION_STRING is set, else a new in-process emulator.
// defaultHub is used when AZURE_WEBPUBSUB_HUB is unset. Call Close when
// done.
func Setup(defaultHub string) (*Env, error) {
	hub := os.Getenv("AZURE_WEBPUBSUB_HUB")
	if hub == "" {
		hub = defaultHub
	}
	env := &Env{Hub: hub}
	cs := os.Getenv("AZURE_WEBPUBSUB_CONNECTION_STRING")
	if cs == "" {
		e, err := emulator.New(emulator.Options{})
		if err != nil {
			return nil, err
		}
		if err := e.Start(); err != nil {
			return nil, fmt.Errorf("starting the emulator: %w", err)
		}
		env.Emulated, env.emu, cs = true, e, e.ConnectionString()
	}
	env.connStr = cs
	service, err := webpubsub.NewServiceClientFromConnectionString(cs, hub, nil)
	if err != nil {
		_ = env.Close()
		return nil, err
	}
	env.Service = service
	return env, nil
}

// Describe says where the example runs, without any secret.
func (e *Env) Describe() string {
	if e.Emulated {
		return "the in-process emulator at " + e.emu.URL()
	}
	return "the service in AZURE_WEBPUBSUB_CONNECTION_STRING"
}

// Close stops the clients of Connect and ConnectAll, then the emulator, if
// one was started.
func (e *Env) Close() error {
	var errs []error
	for _, c := range e.clients {
		errs = append(errs, c.Close())
	}
	e.clients = nil
	if e.emu != nil {
		errs = append(errs, e.emu.Close())
	}
	return errors.Join(errs...)
}

// Scenario is the body of an example: what it does with the service and
// its clients, printing what happens.
type Scenario func(ctx context.Context, env *Env) error

// Run sets up the environment for defaultHub (see Setup), prints
// "Using <where> hub <hub>", runs scenario with a context bounded by
// Timeout, prints "Done." when it succeeds, and closes the environment.
func Run(defaultHub string, scenario Scenario) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	env, err := Setup(defaultHub)
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Println("Using", env.Describe(), "hub", env.Hub)
	if err := scenario(ctx, env); err != nil {
		return err
	}
	fmt.Println("Done.")
	return nil
}

// Main is an example program's main: it calls Run and, when it fails,
// logs "<program>: <error>" and exits with status 1.
func Main(defaultHub string, scenario Scenario) {
	if err := Run(defaultHub, scenario); err != nil {
		log.Printf("%s: %v", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

// ConnectionString is the service's connection string, for an event
// handler that checks signatures with its key. It is a secret: never
// print it.
func (e *Env) ConnectionString() string { return e.connStr }

// RouteUserEvents makes the service call handlerURL, an event handler
// (an eventhandler.Handler's URL), for the user events of pattern ("*"
// for all, or a comma-separated list of names) of the hub. On the
// emulator it configures the hub; connections opened afterwards use the
// handler. Azure Web PubSub cannot reach a local URL, so there it returns
// an error that says to configure the hub's event handler in Azure
// instead.
func (e *Env) RouteUserEvents(handlerURL, pattern string) error {
	if !e.Emulated {
		return fmt.Errorf("configure an event handler for hub %s in Azure (user events %q) that reaches this program; Azure cannot call %s", e.Hub, pattern, handlerURL)
	}
	return e.emu.SetHubs(map[string]emulator.HubOptions{e.Hub: {EventHandlers: []emulator.EventHandler{{
		URLTemplate: handlerURL, UserEventPattern: pattern,
	}}}})
}
