package webpubsub_test

import (
	"errors"
	"testing"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// TestOneErrorContract: an argument rejected by any of the four public
// packages matches every package's ErrInvalidArgument and converts to every
// package's *ValidationError; a bad connection string matches both
// ErrInvalidConnectionString sentinels and both *ConnectionStringError
// aliases, and is an invalid argument too.
func TestOneErrorContract(t *testing.T) {
	sentinels := []error{webpubsub.ErrInvalidArgument, webpubsubclient.ErrInvalidArgument, eventhandler.ErrInvalidArgument, emulator.ErrInvalidArgument}
	validation := map[string]func() error{
		"webpubsub": func() error {
			_, err := webpubsub.NewServiceClientWithKey("https://h", "1hub", nil, nil)
			return err
		},
		"webpubsubclient": func() error {
			_, err := webpubsubclient.New(nil, nil)
			return err
		},
		"eventhandler": func() error {
			_, err := eventhandler.New("1hub", nil)
			return err
		},
		"emulator": func() error {
			_, err := emulator.New(emulator.Options{Port: -1})
			return err
		},
	}
	for pkg, call := range validation {
		t.Run(pkg, func(t *testing.T) {
			err := call()
			for i, s := range sentinels {
				if !errors.Is(err, s) {
					t.Errorf("%v does not match sentinel %d", err, i)
				}
			}
			var a *webpubsub.ValidationError
			var b *webpubsubclient.ValidationError
			var c *eventhandler.ValidationError
			var d *emulator.ValidationError
			if !errors.As(err, &a) || !errors.As(err, &b) || !errors.As(err, &c) || !errors.As(err, &d) {
				t.Errorf("%T does not convert to every ValidationError", err)
			}
		})
	}
	connStr := map[string]func() error{
		"webpubsub": func() error {
			_, err := webpubsub.ParseConnectionString("Endpoint=https://h")
			return err
		},
		"eventhandler": func() error {
			_, err := eventhandler.New("hub", &eventhandler.Options{ConnectionString: "Endpoint=https://h"})
			return err
		},
	}
	for pkg, call := range connStr {
		t.Run(pkg+" connection string", func(t *testing.T) {
			err := call()
			for i, s := range append(sentinels, webpubsub.ErrInvalidConnectionString, eventhandler.ErrInvalidConnectionString) {
				if !errors.Is(err, s) {
					t.Errorf("%v does not match sentinel %d", err, i)
				}
			}
			var a *webpubsub.ConnectionStringError
			var b *eventhandler.ConnectionStringError
			if !errors.As(err, &a) || !errors.As(err, &b) || a.Kind != webpubsub.ConnectionStringMissingAccessKey {
				t.Errorf("%T %v does not convert to both ConnectionStringErrors of kind missing_access_key", err, err)
			}
		})
	}
}
