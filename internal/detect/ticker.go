// Package detect holds what the detectors (ddos, cnc) share. Each detector is fed batches by the
// collector and judges what it has gathered on a wall-clock tick of its own.
package detect

import (
	"context"
	"sync/atomic"
	"time"
)

// Ticker calls a function every period from a goroutine of its own, between Start and Stop,
// and as soon as it can after Poke. The zero Ticker is ready to use; Stop without Start does
// nothing, nor does Poke.
type Ticker struct {
	cancel context.CancelFunc
	done   chan struct{}
	// poke is set by Start; Poke may read it from any goroutine.
	poke atomic.Pointer[chan struct{}]
}

// Start calls fn every period until ctx ends or Stop is called.
func (t *Ticker) Start(ctx context.Context, period time.Duration, fn func()) {
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
	poke := make(chan struct{}, 1)
	t.poke.Store(&poke)
	go func() {
		defer close(t.done)
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				fn()
			case <-poke:
				fn()
			}
		}
	}()
}

// Stop ends the ticking and waits until a call of fn under way has returned.
func (t *Ticker) Stop() {
	if t.cancel != nil {
		t.cancel()
		<-t.done
	}
}

// Poke asks for a call of fn now, without waiting for the next tick; pokes that come while one
// is pending or under way make one call. Call it after Start has returned, from any goroutine;
// before Start (or on a zero Ticker) it does nothing.
func (t *Ticker) Poke() {
	p := t.poke.Load()
	if p == nil {
		return
	}
	select {
	case *p <- struct{}{}:
	default:
	}
}
