package main

import (
	"slices"
	"testing"

	"umbra/internal/delivery"
	"umbra/internal/metrics"
	"umbra/internal/queue"
)

// OPS-2: umbra_delivery_panics_total exports at zero every part the
// deliverer counts a recovered panic under, and no other (serve wires
// the deliverer's PanicObserver to the metrics).
func TestDeliveryPanicPartsExported(t *testing.T) {
	if !slices.Equal(delivery.PanicParts, metrics.DeliveryPanicParts) {
		t.Fatalf("delivery counts panics under %v, the metric exports %v", delivery.PanicParts, metrics.DeliveryPanicParts)
	}
}

// OPS-2: umbra_queue_panics_total exports at zero every part the queue
// manager counts a recovered panic under, and no other.
func TestQueuePanicPartsExported(t *testing.T) {
	if !slices.Equal(queue.PanicParts, metrics.QueuePanicParts) {
		t.Fatalf("the queue counts panics under %v, the metric exports %v", queue.PanicParts, metrics.QueuePanicParts)
	}
}
