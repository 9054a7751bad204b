package emulator

import (
	"runtime"
	"sync"
	"time"
)

// writerPool runs the writes of every transport on a few goroutines. A
// transport with something to write is queued once; a worker takes it,
// writes until its queue is empty, and takes the next. Workers exist only
// while transports wait: an idle emulator has none, and a broadcast to
// 10,000 connections runs on a few goroutines rather than starting 10,000.
//
// A worker whose client does not read blocks in its write. So that such
// clients cannot hold up the others, a check runs every stallCheck while
// transports wait and all workers are busy: when no worker took a
// transport since the last check, one more worker starts. Workers beyond
// the usual number end, as all do, when nothing waits.
type writerPool struct {
	e   *Emulator
	max int // workers started without waiting for a check

	mu       sync.Mutex
	ready    []*transport // FIFO
	workers  int
	taken    uint64 // transports taken by workers, ever
	watching bool   // a check is armed
	seen     uint64 // taken at the last check
	rescued  uint64 // workers started by a check, ever
}

// stallCheck is how long waiting transports may go without any worker
// taking one before another worker starts.
const stallCheck = 5 * time.Millisecond

func newWriterPool(e *Emulator) *writerPool {
	return &writerPool{e: e, max: max(2, runtime.GOMAXPROCS(0))}
}

// submit queues tr and starts a worker or the stall check if needed. It
// may be called with tr.qmu held, by a goroutine that e.wg counts.
func (p *writerPool) submit(tr *transport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, tr)
	if p.workers < p.max {
		p.startLocked()
		return
	}
	if !p.watching {
		p.watching = true
		p.seen = p.taken
		time.AfterFunc(stallCheck, p.check)
	}
}

// startLocked starts a worker, which e.wg counts. Its caller is counted
// too (submit's), or waiting transports mean that workers are running.
func (p *writerPool) startLocked() {
	p.workers++
	p.e.wg.Add(1)
	go p.work()
}

// work runs transports' writes until none waits.
func (p *writerPool) work() {
	defer p.e.wg.Done()
	for {
		p.mu.Lock()
		if len(p.ready) == 0 {
			p.workers--
			p.ready = nil // a burst's queue is not kept
			p.mu.Unlock()
			return
		}
		tr := p.ready[0]
		p.ready[0] = nil
		p.ready = p.ready[1:]
		p.taken++
		p.mu.Unlock()
		tr.write()
	}
}

// check starts a worker when transports waited a whole stallCheck
// without any being taken, and checks again while any wait.
func (p *writerPool) check() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ready) == 0 {
		p.watching = false
		return
	}
	if p.taken == p.seen {
		p.rescued++
		p.startLocked()
	}
	p.seen = p.taken
	time.AfterFunc(stallCheck, p.check)
}
