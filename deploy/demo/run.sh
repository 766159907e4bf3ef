#!/usr/bin/env bash
# make demo: shadow redundancy in a minute, on loopback only.
#
# An edge and two hubs of one site. The edge relays mail for example.test
# to the hubs and keeps a shadow copy of each message until the hub that
# took it says it is done. Hub 1 takes five messages and holds them (its
# mailbox queue is suspended), then dies for good: kill -9, database
# wiped. The edge's heartbeats to hub 1 fail three times, the edge takes
# its copies over, and hub 2 delivers them into its Maildir. The script
# explains each step, prints the edge's whole tracking log and leaves its
# directory (logs, tracking logs, Maildir) in place, saying where.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/umbra}
DIR=$(mktemp -d /tmp/umbra-demo.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
explain() { printf '   %s\n' "$@"; }

EDGE=127.0.0.1:2625 HUB1=127.0.0.2:2625 HUB2=127.0.0.3:2625
cat > "$DIR/topology.yaml" <<TOPO
sites: [{name: site1}]
servers:
  - {name: edge, role: edge, site: site1, address: "$EDGE"}
  - {name: hub1, role: hub, site: site1, address: "$HUB1"}
  - {name: hub2, role: hub, site: site1, address: "$HUB2"}
TOPO
for n in edge hub1 hub2; do
  eval addr=\$$(echo $n | tr a-z A-Z)
  type=authoritative; mailbox=$'mailbox: {maildir: maildir}\nrecipients: {addresses: [bob@example.test]}   # validated at RCPT; the edge asks the hubs'
  if [ $n = edge ]; then type=internal_relay; mailbox=""; fi
  cat > "$DIR/$n.yaml" <<CFG
server: {name: $n, role: $( [ $n = edge ] && echo edge || echo hub ), data_dir: $DIR/$n, metrics_listen: "", log_level: warn}
topology: $DIR/topology.yaml
transport: {retry_schedule: [2s], shadow_heartbeat_timeout: 2s, shadow_heartbeat_retry_count: 3}
accepted_domains: [{domain: example.test, type: $type}]
receive_connectors:
  - name: org
    bindings: ["$addr"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 0s   # the demo's client need not wait for hub 1
$mailbox
CFG
done

start() { "$BIN" serve -c "$DIR/$1.yaml" 2>>"$DIR/$1.log" & PIDS+=($!); eval "PID_$1=$!"; sleep 0.5; }
delivered() { ls "$DIR/hub2/maildir/example.test/bob/new" 2>/dev/null | wc -l || true; }
send() { # a minimal SMTP client on bash's /dev/tcp
  exec 3<>/dev/tcp/127.0.0.1/2625
  read -r _ <&3
  for line in "EHLO demo" "MAIL FROM:<alice@example.org>" "RCPT TO:<bob@example.test>" "DATA"; do
    printf '%s\r\n' "$line" >&3
    while read -r reply <&3; do [ "${reply:3:1}" = "-" ] || break; done
  done
  printf 'Subject: demo %s\r\n\r\nShadow redundancy demo.\r\n.\r\n' "$1" >&3
  read -r reply <&3; echo "   message $1: $reply"
  printf 'QUIT\r\n' >&3; exec 3>&-
}

say "Shadow redundancy in one minute (data and logs: $DIR)"
explain "A message is not acknowledged to its sender by one server alone. The edge" \
  "relays each message to a hub, the PRIMARY, which takes responsibility for it;" \
  "the edge keeps a SHADOW COPY until the primary says the message left it (a" \
  "discard notification). Meanwhile the edge sends the primary a HEARTBEAT every" \
  "2 s (shadow_heartbeat_timeout); after 3 failed heartbeats" \
  "(shadow_heartbeat_retry_count) it TAKES OVER: its copies are routed again, to" \
  "another hub. Nothing the primary had acknowledged is lost with it."

say "Starting the edge and hub 1 (hub 2 comes later); hub 1 holds its mail"
start edge; start hub1
"$BIN" -c "$DIR/hub1.yaml" queue suspend mailbox:local >/dev/null

say "Sending five messages to the edge"
for i in 1 2 3 4 5; do send $i; done
sleep 1
say "The edge keeps a shadow copy of each until hub 1 says it is done:"
"$BIN" -c "$DIR/edge.yaml" shadow list

say "Starting hub 2, then killing hub 1 for good (kill -9, database wiped)"
explain "The edge's heartbeats to hub 1 now fail; after the third it takes over."
start hub2
kill -9 "$PID_hub1"; wait "$PID_hub1" 2>/dev/null || true; rm -rf "$DIR/hub1"
for i in $(seq 1 15); do
  sleep 1
  n=$(delivered)
  printf '   %2ds: messages in hub 2'\''s Maildir: %s\n' "$i" "$n"
  [ "$n" -ge 5 ] && break
done

say "What the edge did (its tracking log, read from $DIR/edge/tracking.log):"
explain "receive: the message arrived; shadow: hub 1 took it, the edge kept a copy;" \
  "takeover: heartbeats to hub 1 failed, the copy was routed again; the second shadow:" \
  "hub 2 took it, and the edge keeps a copy again until hub 2 has delivered it."
"$BIN" -c "$DIR/edge.yaml" track --sender alice@example.org --event receive,shadow,takeover,send
n=$(delivered)
say "Result: $n of 5 messages delivered by hub 2 after hub 1 was lost"
explain "The servers are stopped; their logs and data stay in $DIR:" \
  "  $DIR/edge.log, hub1.log, hub2.log        the daemons' logs" \
  "  $DIR/edge/tracking.log, hub2/tracking.log the tracking logs (umbra track -c $DIR/edge.yaml …)" \
  "  $DIR/hub2/maildir/example.test/bob/new   the delivered messages" \
  "Remove it with: rm -rf $DIR"
[ "$n" -eq 5 ]
