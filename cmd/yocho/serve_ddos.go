package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"yocho/internal/alert"
	"yocho/internal/alert/notify"
	"yocho/internal/config"
	"yocho/internal/detect/ddos"
	"yocho/internal/enrich"
)

// detection is the DDoS detector with the alert manager it reports to and the notifiers that
// subscribe to the manager. Other subscribers (the mitigation engine) call alerts.Subscribe
// before Start.
type detection struct {
	alerts   *alert.Manager
	detector *ddos.Detector // nil when detection.ddos.enabled is false
	webhooks []*notify.Webhook
	syslogs  []*notify.Syslog
}

// newDetection builds the detection components from the configuration, over the networks the
// enricher before them was given (the detector reads the hostgroups it found); it does no I/O.
func newDetection(cfg config.Config, nets *enrich.Networks, reg prometheus.Registerer, log *slog.Logger) (*detection, error) {
	ac := alert.DefaultConfig()
	ac.Dir = filepath.Join(cfg.Storage.Path, "alerts")
	ac.Retention = cfg.Alerts.Retention.D()
	ac.StaleAfter = cfg.Detection.DDoS.QuietPeriod.D() + time.Minute
	d := &detection{alerts: alert.New(ac, reg, log.With("component", "alert"))}
	if cfg.Detection.DDoS.Enabled {
		d.detector = ddos.New(ddos.ConfigFrom(cfg.Detection.DDoS), nets, d.alerts, reg, log.With("component", "ddos"))
	}
	metrics := notify.NewMetrics(reg)
	if cfg.Notify.Log {
		d.alerts.Subscribe("log", notify.NewLog(log.With("component", "notify")).Handle)
	}
	for i, w := range cfg.Notify.Webhooks {
		n := notify.NewWebhook(notify.WebhookConfig{URL: w.URL, Secret: w.Secret, Events: w.Events,
			Timeout: w.Timeout.D(), MaxRetries: w.MaxRetries}, metrics, log.With("component", "notify"))
		d.webhooks = append(d.webhooks, n)
		d.alerts.Subscribe(fmt.Sprintf("webhook-%d", i), n.Handle)
	}
	for i, s := range cfg.Notify.Syslog {
		n := notify.NewSyslog(notify.SyslogConfig{Address: s.Address, Network: s.Network, Facility: s.Facility,
			Events: s.Events}, metrics, log.With("component", "notify"))
		d.syslogs = append(d.syslogs, n)
		d.alerts.Subscribe(fmt.Sprintf("syslog-%d", i), n.Handle)
	}
	return d, nil
}

// Start loads the saved alerts, then starts the detector's ticker.
func (d *detection) Start(ctx context.Context) error {
	if err := d.alerts.Start(ctx); err != nil {
		return err
	}
	if d.detector != nil {
		return d.detector.Start(ctx)
	}
	return nil
}

// Stop stops the detector, then the notifiers' retries and the manager (which drains the queues).
func (d *detection) Stop() {
	if d.detector != nil {
		d.detector.Stop()
	}
	for _, w := range d.webhooks {
		w.Stop()
	}
	d.alerts.Stop()
	for _, s := range d.syslogs {
		s.Stop()
	}
}
