package api

import (
	"context"
	"sync"
	"time"
)

// DefaultCacheTTL is how long a flow query's answer is reused: the store's default flush
// interval, so an answer is never staler than the store itself can be by more than that.
const DefaultCacheTTL = 5 * time.Second

// maxCacheEntries bounds the answers kept; beyond it, queries run uncached until entries expire.
const maxCacheEntries = 512

// Cache outcomes, as the metric's result label and the Server-Timing "cache" description say.
const (
	cacheHit    = "hit"    // a fresh answer computed for an earlier request
	cacheShared = "shared" // joined a computation that an identical request had started
	cacheMiss   = "miss"   // computed for this request
	cacheOff    = "off"    // not cached (cache disabled or full)
)

// queryCache runs identical flow queries once. Requests whose normalised query (the key) is the
// same share one store query while it runs (single flight), and its answer is reused for ttl
// after it was computed. Errors are shared with the requests already waiting, never kept. A
// computation is cancelled when every request waiting for it has gone.
type queryCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

// cacheEntry is one query, running (done open) or answered (done closed, val/err set).
type cacheEntry struct {
	done    chan struct{}
	val     any
	err     error
	at      time.Time // when the answer came
	waiters int       // requests waiting while it runs
	cancel  context.CancelFunc
}

func newQueryCache(ttl time.Duration) *queryCache {
	return &queryCache{ttl: ttl, now: time.Now, entries: map[string]*cacheEntry{}}
}

// do answers key with a fresh cached answer, or the answer of the identical query already
// running, or by running run; it says which (cacheHit, cacheShared, cacheMiss or cacheOff).
// run gets a context that outlives ctx while other requests still wait for it, and at most
// queryTimeout.
func (c *queryCache) do(ctx context.Context, key string, run func(context.Context) (any, error)) (any, string, error) {
	if c == nil || c.ttl <= 0 {
		v, err := run(ctx)
		return v, cacheOff, err
	}
	c.mu.Lock()
	e, outcome := c.entries[key], cacheShared
	if e != nil {
		select {
		case <-e.done:
			if e.err == nil && c.now().Sub(e.at) < c.ttl {
				c.mu.Unlock()
				return e.val, cacheHit, nil
			}
			delete(c.entries, key)
			e = nil
		default:
		}
	}
	if e == nil {
		if len(c.entries) >= maxCacheEntries {
			c.sweep()
		}
		if len(c.entries) >= maxCacheEntries {
			c.mu.Unlock()
			v, err := run(ctx)
			return v, cacheOff, err
		}
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
		e = &cacheEntry{done: make(chan struct{}), cancel: cancel}
		c.entries[key] = e
		outcome = cacheMiss
		go c.run(runCtx, key, e, run)
	}
	e.waiters++
	c.mu.Unlock()

	select {
	case <-e.done:
		return e.val, outcome, e.err
	case <-ctx.Done():
		c.mu.Lock()
		e.waiters--
		if e.waiters == 0 { // nobody wants the answer any more: stop, and let the next start afresh
			e.cancel()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
		}
		c.mu.Unlock()
		return nil, outcome, ctx.Err()
	}
}

func (c *queryCache) run(ctx context.Context, key string, e *cacheEntry, run func(context.Context) (any, error)) {
	v, err := run(ctx)
	c.mu.Lock()
	e.val, e.err, e.at = v, err, c.now()
	if err != nil && c.entries[key] == e {
		delete(c.entries, key)
	}
	close(e.done)
	e.cancel()
	c.mu.Unlock()
}

// sweep drops the answers that have expired. c.mu is held.
func (c *queryCache) sweep() {
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		default:
		}
	}
}
