package main

import "testing"

// TestQuickstart runs the example against the in-process emulator.
func TestQuickstart(t *testing.T) {
	t.Setenv("AZURE_WEBPUBSUB_CONNECTION_STRING", "")
	t.Setenv("AZURE_WEBPUBSUB_HUB", "")
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
