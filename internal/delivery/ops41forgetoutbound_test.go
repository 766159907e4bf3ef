package delivery

import (
	"slices"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/routing"
)

type forgettingRecorder struct {
	outboundRecorder
	fmu    sync.Mutex
	forgot []string
}

func (o *forgettingRecorder) Forget(dest string) {
	o.fmu.Lock()
	defer o.fmu.Unlock()
	o.forgot = append(o.forgot, dest)
}

// OPS-2 (rt41): a reload that removes a send connector drops its
// outbound series (umbra_outbound_sessions_total and
// umbra_outbound_tls_failures_total kept a removed connector's at its
// last value until a restart); those of the connectors it keeps stay.
func TestOPS2ReloadForgetsRemovedConnectorsOutboundSeries(t *testing.T) {
	conn := func(name, domain string) config.SendConnector {
		return config.SendConnector{Name: name, AddressSpaces: []config.AddressSpace{{Domain: domain, Cost: 1}}, SmartHosts: []string{"127.0.0.168:10013"}}
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, conn("kept", "k.example"), conn("gone", "g.example"))
	o := &forgettingRecorder{outboundRecorder: outboundRecorder{sessions: map[[2]string]int{}, failures: map[[2]string]int{}}}
	d.SetOutbound(o)
	cfg := d.RunningConfig()
	cfg.SendConnectors = cfg.SendConnectors[:1]
	cfg.Routing = routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}},
		[]routing.Connector{{Name: "kept", Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "k.example", Cost: 1}}}})
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.forgot, []string{"gone"}) {
		t.Errorf("the reload forgot %v, want [gone]", o.forgot)
	}
}
