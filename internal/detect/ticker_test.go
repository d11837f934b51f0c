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
