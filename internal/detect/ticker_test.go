package detect

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestTickerCallsUntilStop(t *testing.T) {
	var n atomic.Int32
	var tk Ticker
	tk.Start(context.Background(), time.Millisecond, func() { n.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	tk.Stop()
	if n.Load() < 3 {
		t.Fatalf("fn called %d times in 5 s at a 1 ms period", n.Load())
	}
	after := n.Load()
	time.Sleep(20 * time.Millisecond)
	if n.Load() != after {
		t.Errorf("fn still called after Stop: %d then %d", after, n.Load())
	}
	var idle Ticker
	idle.Stop() // without Start: nothing to wait for
}

func TestTickerPokeCallsAtOnce(t *testing.T) {
	var tk Ticker
	tk.Poke() // before Start: nothing
	called := make(chan struct{}, 10)
	tk.Start(context.Background(), time.Hour, func() { called <- struct{}{} })
	defer tk.Stop()
	for i := 0; i < 3; i++ {
		tk.Poke()
		select {
		case <-called:
		case <-time.After(5 * time.Second):
			t.Fatalf("poke %d: fn not called within 5 s (period 1 h)", i)
		}
	}
}
