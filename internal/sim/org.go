package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// The organisation: sites a and b; hubs a1, a2 (site a) and b1 (site b);
// mailbox servers mbx-a (database db-a, a.test) and mbx-b (db-b,
// b.test), which are LMTP sinks; an outside destination ext.test behind a
// send connector on b1. Senders are outside clients at 10.9.0.1.
const (
	clientIP = "10.9.0.1"
	extAddr  = "10.8.0.1:25"
)

var hubs = []struct{ name, ip, site string }{{"a1", "10.1.0.1", "a"}, {"a2", "10.1.0.2", "a"}, {"b1", "10.2.0.1", "b"}}

const topologyYAML = `sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: a1, role: hub, site: a, address: "10.1.0.1:25"}
  - {name: a2, role: hub, site: a, address: "10.1.0.2:25"}
  - {name: b1, role: hub, site: b, address: "10.2.0.1:25"}
  - {name: mbx-a, role: mailbox, site: a, address: "10.1.0.9:24"}
  - {name: mbx-b, role: mailbox, site: b, address: "10.2.0.9:24"}
mailbox_databases:
  - {name: db-a, server: mbx-a}
  - {name: db-b, server: mbx-b}
recipients:
  - {match: a.test, database: db-a}
  - {match: b.test, database: db-b}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [b1], smart_hosts: ["10.8.0.1:25"]}
`

const hubYAML = `server: {name: %s, data_dir: %s, metrics_listen: "", admin_socket: %s}
topology: %s
tracking: {enabled: false}
transport:
  retry_schedule: [5s, 10s, 20s, 30s]
  retry_jitter: 0.1
  message_expiration: 10m
  delay_notification: 0s
  shadow_heartbeat_timeout: 5s
  shadow_heartbeat_retry_count: 3
  connect_timeout: 5s
  command_timeout: 10s
  data_timeout: 10s
  max_dumpster_time: 10m
  shadow_redundancy_enabled: %t
accepted_domains:
  - {domain: a.test, type: internal_relay}
  - {domain: b.test, type: internal_relay}
receive_connectors:
  - name: org
    bindings: ["%s:25"]
    remote_ranges: ["10.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 5s
    limits: {max_connections_per_source: 500}
    shadow_on_receipt: %s
`

// Org is a running simulated organisation.
type Org struct {
	Net   *Network
	Nodes []*Node
	Mbx   map[string]*Sink // database → its mailbox server
	Ext   *Sink
	rnd   *rand.Rand

	ackMu      sync.Mutex
	maxAckWait time.Duration // the longest wait for a 250 (fake time)
}

// NewOrg builds the organisation in dir; every server is started.
func NewOrg(dir string, rnd *rand.Rand, log *slog.Logger, shadow bool) (*Org, error) {
	return NewOrgReceipt(dir, rnd, log, shadow, "off")
}

// NewOrgReceipt is NewOrg with every hub's connector making shadow
// copies on receipt with preference receipt (SR-17; "off" for none).
func NewOrgReceipt(dir string, rnd *rand.Rand, log *slog.Logger, shadow bool, receipt string) (*Org, error) {
	o := &Org{rnd: rnd, Mbx: map[string]*Sink{}}
	o.Net = NewNetwork(func() time.Duration { return time.Duration(rnd.IntN(50)) * time.Millisecond })
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topologyYAML), 0o600); err != nil {
		return nil, err
	}
	ct, err := config.LoadTopology(topoPath)
	if err != nil {
		return nil, err
	}
	topo, err := routing.NewTopology(topologyInput(ct))
	if err != nil {
		return nil, err
	}
	for _, db := range []struct{ name, addr string }{{"db-a", "10.1.0.9:24"}, {"db-b", "10.2.0.9:24"}} {
		ln, _ := o.Net.Listen("tcp", db.addr)
		o.Mbx[db.name] = NewSink(db.name, ln, true)
	}
	ln, _ := o.Net.Listen("tcp", extAddr)
	o.Ext = NewSink("ext", ln, false)
	for _, h := range hubs {
		d := filepath.Join(dir, h.name)
		os.MkdirAll(d, 0o700)
		y := fmt.Sprintf(hubYAML, h.name, d, filepath.Join(d, "admin.sock"), topoPath, shadow, h.ip, receipt)
		cfg, err := config.Parse([]byte(y), filepath.Join(d, "umbra.yaml"))
		if err != nil {
			o.Close()
			return nil, err
		}
		n := &Node{Name: h.name, IP: h.ip, dir: d, cfg: cfg, topo: topo, net: o.Net, log: log.With("server", h.name)}
		if err := n.Start(); err != nil {
			o.Close()
			return nil, err
		}
		o.Nodes = append(o.Nodes, n)
	}
	return o, nil
}

// Close stops everything (as crashes: the run is over).
func (o *Org) Close() {
	for _, n := range o.Nodes {
		n.Crash()
	}
	for _, s := range o.Mbx {
		s.Close()
	}
	o.Ext.Close()
}

// Send submits one message as an outside client to hub; wait says
// whether the client waits for a delayed acknowledgement (else it gives
// up after a second). It returns whether the message was acknowledged
// (250 after DATA) and for which recipients.
func (o *Org) Send(hub *Node, from, simID, msgID string, rcpts []string, wait bool) (acked []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := o.Net.Dial(ctx, clientIP, hub.IP+":25")
	if err != nil {
		return nil
	}
	c := gosmtp.NewClient(nc)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = 10*time.Second, 10*time.Second
	if !wait {
		c.SubmissionTimeout = time.Second
	}
	if err := c.Hello("client.ext.test"); err != nil {
		return nil
	}
	if err := c.Mail(from, nil); err != nil {
		return nil
	}
	var ok []string
	for _, r := range rcpts {
		if c.Rcpt(r, nil) == nil {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	w, err := c.Data()
	if err != nil {
		return nil
	}
	if msgID != "" {
		fmt.Fprintf(w, "Message-ID: %s\r\n", msgID)
	}
	fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: sim %s\r\nX-Sim-Id: %s\r\n\r\nbody of %s\r\n", from, strings.Join(ok, ">, <"), simID, simID, simID)
	sent := time.Now()
	if err := w.Close(); err != nil {
		return nil
	}
	o.ackMu.Lock()
	o.maxAckWait = max(o.maxAckWait, time.Since(sent))
	o.ackMu.Unlock()
	c.CommandTimeout = 2 * time.Second // a QUIT's reply awaited briefly, as umbra's own clients do (smtp.Client.QuitBounded); the deferred Close ends the rest
	c.Quit()
	return ok
}

// MaxAckWait is the longest time a client waited for its 250 after the
// end of its data (fake time).
func (o *Org) MaxAckWait() time.Duration {
	o.ackMu.Lock()
	defer o.ackMu.Unlock()
	return o.maxAckWait
}

// topologyInput converts the topology file into routing's input (as
// cmd/umbra does).
func topologyInput(ct *config.Topology) routing.TopologyInput {
	var in routing.TopologyInput
	for _, s := range ct.Sites {
		site := routing.Site{Name: s.Name, HubSite: s.HubSite}
		for _, p := range s.Subnets {
			if pr, err := config.ParseRange(p); err == nil { // validated when loaded
				site.Subnets = append(site.Subnets, pr)
			}
		}
		in.Sites = append(in.Sites, site)
	}
	for _, l := range ct.SiteLinks {
		in.Links = append(in.Links, routing.SiteLink{Name: l.Name, Sites: l.Sites, Cost: l.Cost, UmbraCost: l.UmbraCost,
			MaxMessageSize: int64(l.MaxMessageSize)})
	}
	for _, s := range ct.Servers {
		in.Servers = append(in.Servers, routing.Server{Name: s.Name, Role: s.Role, Site: s.Site, Version: s.Version,
			Address: s.Address, RoutingGroup: s.RoutingGroup})
	}
	for _, d := range ct.MailboxDatabases {
		in.Databases = append(in.Databases, routing.Database{Name: d.Name, Server: d.Server})
	}
	for _, r := range ct.Recipients {
		in.Recipients = append(in.Recipients, routing.RecipientMap{Match: r.Match, Database: r.Database})
	}
	for _, c := range ct.SendConnectors {
		sc := routing.SendConnector{Name: c.Name, SourceServers: c.SourceServers, SiteScoped: c.Scope == "site",
			SmartHosts: c.SmartHosts, MaxSize: int64(c.MaxMessageSize), Enabled: c.Enabled == nil || *c.Enabled}
		for _, a := range c.AddressSpaces {
			sc.AddressSpaces = append(sc.AddressSpaces, routing.AddressSpace{Domain: a.Domain, Cost: a.Cost})
		}
		in.Connectors = append(in.Connectors, sc)
	}
	return in
}

// sinks are the mail stores: the mailbox servers and the outside.
func (o *Org) sinks() []*Sink { return []*Sink{o.Mbx["db-a"], o.Mbx["db-b"], o.Ext} }
