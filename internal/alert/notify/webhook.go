package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"yocho/internal/alert"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body, keyed by the secret.
const SignatureHeader = "X-Yocho-Signature"

// WebhookConfig is one webhook.
type WebhookConfig struct {
	URL        string
	Secret     string   // signs the body; empty sends no signature
	Events     []string // started, updated, ended, mitigation; empty: started and ended
	Timeout    time.Duration
	MaxRetries int
	// Backoff is the wait before the first retry; it doubles each time, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// Webhook posts alert events as JSON ({"event": ..., "alert": {...}}), retrying with backoff on
// network errors, 429 and 5xx answers.
type Webhook struct {
	cfg     WebhookConfig
	client  *http.Client
	metrics *Metrics
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewWebhook returns a webhook notifier; it does no I/O.
func NewWebhook(cfg WebhookConfig, metrics *Metrics, log *slog.Logger) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhook{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, metrics: metrics, log: log, ctx: ctx, cancel: cancel}
}

// Stop abandons the retries under way.
func (w *Webhook) Stop() { w.cancel() }

// Handle sends one event if it is of a wanted type; it is the function to subscribe.
func (w *Webhook) Handle(ev alert.Event) {
	if !wants(w.cfg.Events, ev.Type) {
		return
	}
	if err := w.Send(w.ctx, ev); err != nil {
		w.log.Warn("webhook failed", "url", w.cfg.URL, "alert", ev.Alert.ID, "event", ev.Type, "err", err)
	}
}

// Sign is the signature header value of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send posts one event, with retries.
func (w *Webhook) Send(ctx context.Context, ev alert.Event) error {
	ev.Alert = ev.Alert.Summary()
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	wait := w.cfg.Backoff
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, ev, body)
		if err == nil {
			w.metrics.count("webhook", "sent")
			return nil
		}
		if !retry || attempt >= w.cfg.MaxRetries {
			w.metrics.count("webhook", "failed")
			return fmt.Errorf("webhook %s, attempt %d: %w", w.cfg.URL, attempt+1, err)
		}
		w.metrics.count("webhook", "retried")
		select {
		case <-ctx.Done():
			w.metrics.count("webhook", "failed")
			return fmt.Errorf("webhook %s: %w (last error: %v)", w.cfg.URL, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, w.cfg.MaxBackoff)
	}
}

// post makes one attempt; retry says whether another may succeed.
func (w *Webhook) post(ctx context.Context, ev alert.Event, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "yocho")
	req.Header.Set("X-Yocho-Event", string(ev.Type))
	req.Header.Set("X-Yocho-Alert", ev.Alert.ID)
	if w.cfg.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answer %s", resp.Status)
	default:
		return false, fmt.Errorf("answer %s", resp.Status)
	}
}
