// Package mailmetrics exports a mail.Worker's numbers to Prometheus:
//
//	valet_mail_sent_total       messages this node sent
//	valet_mail_failures_total   tries that failed (a message may fail many times)
//	valet_mail_dead_total       messages given up on: refused for good or failing too long
//	valet_mail_outbox_pending   messages waiting in the outbox, of every node
//
// It is its own package so that package mail, which the stores import for
// the outbox's types, links no Prometheus.
package mailmetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet/mail"
)

// Register registers the series of w on reg. The counters read w's Stats
// at each scrape, so they cost nothing between scrapes; the pending gauge
// is the worker's last count, taken at most a Poll ago (-1 before the
// first). It returns reg's error, having registered none of the series,
// when reg refuses one, such as when they are registered there already.
func Register(reg prometheus.Registerer, w *mail.Worker) error {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "valet_mail_sent_total",
			Help: "Messages this node sent: the receiving server took them.",
		}, func() float64 { return float64(w.Stats().Sent) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "valet_mail_failures_total",
			Help: "Tries to send a message that failed on this node; a message is retried until it is sent or dead.",
		}, func() float64 { return float64(w.Stats().Failures) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "valet_mail_dead_total",
			Help: "Messages this node gave up on, refused for good or failing for too long; each is logged at ERROR.",
		}, func() float64 { return float64(w.Stats().Dead) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "valet_mail_outbox_pending",
			Help: "Messages waiting in the outbox to be sent, of every node, as last counted; -1 before the first count.",
		}, func() float64 { return float64(w.Stats().Pending) }),
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}
