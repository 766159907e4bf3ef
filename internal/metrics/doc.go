// Package metrics defines umbra's Prometheus metrics and implements the
// observer interfaces of the other packages (queue.Observer, queue.Events,
// smtp.Observer), so those packages stay free of Prometheus.
//
// Invariants: every metric is registered on the registry passed to New
// (no global registration, no init); names follow
// umbra_<subsystem>_<name>_<unit> with _total on counters; labels are
// bounded (connector names, event names, reply classes, outcomes), never
// message ids, addresses or hosts. Destinations are configured names
// (send connector, mailbox database, site); per-domain MX queues count as
// "mx"; outbound sessions count by send connector name, "org" or
// "mailbox" (the topology's servers) and "redirect" (outbound.go).
//
// umbra_queue_commit_errors_total counts trouble only (queue.Observer:
// any failure of a commit that is not a named refusal: bbolt or the disk
// failing it, a corrupt record, a panic, an error no one foresaw), never
// a refusal a writer's function decided (queue.Refused, rt18c-F2): its
// alert rule must not fire for an operator's refused command. The queue gauges count a
// message in its first attempt where queue list does, in its
// destinations' queues (queue.Store.QueueStats), not in submission.
//
// A fresh server exports every series the dashboard and the alert rules
// use (Known, zero-filled gauges): a panel or an alert never watches
// nothing, and a dashboard's instance variable (umbra_build_info) has
// values before the first message.
package metrics
