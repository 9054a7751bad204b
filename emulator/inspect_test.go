package emulator

import (
	"slices"
	"testing"
)

func TestHubsListsHubsInUse(t *testing.T) {
	te := startEmulator(t, Options{})
	if got := te.Hubs(); len(got) != 0 || got == nil {
		t.Fatalf("Hubs before any use = %#v, want an empty non-nil slice", got)
	}
	te.raw(nil)
	if got, want := te.Hubs(), []string{"chat"}; !slices.Equal(got, want) {
		t.Fatalf("Hubs = %v, want %v", got, want)
	}
}
