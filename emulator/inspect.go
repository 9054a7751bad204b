package emulator

import "sort"

// Hubs returns the canonical names of the hubs the emulator currently
// holds, sorted. A hub exists once a connection or REST call has used it.
// The result is a fresh slice (empty, not nil, when there is no hub); it
// is safe to call concurrently with any other method.
func (e *Emulator) Hubs() []string {
	e.mu.RLock()
	names := make([]string, 0, len(e.hubs))
	for name := range e.hubs {
		names = append(names, name)
	}
	e.mu.RUnlock()
	sort.Strings(names)
	return names
}
