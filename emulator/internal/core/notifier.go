package core

import (
	"sync"
	"sync/atomic"
)

// Notifier wakes the goroutines waiting for a change of state. Signal is
// one atomic load when nobody waits. The zero value is ready to use; a
// nil *Notifier ignores Signal.
type Notifier struct {
	mu sync.Mutex
	ch atomic.Pointer[chan struct{}]
}

// Wait returns a channel that is closed at the next Signal.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.ch.Load()
	if p == nil {
		ch := make(chan struct{})
		p = &ch
		n.ch.Store(p)
	}
	return *p
}

// Signal wakes every current waiter.
func (n *Notifier) Signal() {
	if n == nil || n.ch.Load() == nil {
		return
	}
	n.mu.Lock()
	p := n.ch.Swap(nil)
	n.mu.Unlock()
	if p != nil {
		close(*p)
	}
}
