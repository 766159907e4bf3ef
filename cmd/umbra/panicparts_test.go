package main

import (
	"slices"
	"testing"

	"umbra/internal/delivery"
	"umbra/internal/metrics"
)

// OPS-2: umbra_delivery_panics_total exports at zero every part the
// deliverer counts a recovered panic under, and no other (serve wires
// the deliverer's PanicObserver to the metrics).
func TestDeliveryPanicPartsExported(t *testing.T) {
	if !slices.Equal(delivery.PanicParts, metrics.DeliveryPanicParts) {
		t.Fatalf("delivery counts panics under %v, the metric exports %v", delivery.PanicParts, metrics.DeliveryPanicParts)
	}
}
