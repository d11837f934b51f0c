// Package detect holds what the detectors (ddos, cnc) share. Each detector is fed batches by the
// collector and judges what it has gathered on a wall-clock tick of its own.
package detect

import (
	"context"
	"time"
)

// Ticker calls a function every period from a goroutine of its own, between Start and Stop.
// The zero Ticker is ready to use; Stop without Start does nothing.
type Ticker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start calls fn every period until ctx ends or Stop is called.
func (t *Ticker) Start(ctx context.Context, period time.Duration, fn func()) {
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
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
