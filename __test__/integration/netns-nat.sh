#!/usr/bin/env bash
# Builds (up) or removes (down) the two-NAT test network of the hole-punching
# (nat.test.ts), relayed-connection (relay-nat.test.ts) and dial-by-key
# (dial-nat.test.ts) suites. Everything lives in network namespaces named
# "$P-*"; the initial namespace is never touched and nothing can leave the
# machine.
#
#   $P-pub   rendezvous 10.99.0.1/24 ──┐   (also 10.99.0.2: a second public address)
#                                      │ 10.99.0.254
#   $P-r     router ───────────────────┤ 10.99.1.254 ── 10.99.1.2  $P-nata ── 192.168.41.1 ─┬─ 192.168.41.2  $P-a
#                                      │                                                    └─ 192.168.41.3  $P-c
#                                      └ 10.99.2.254 ── 10.99.2.3  $P-natb ── 192.168.42.1 ── 192.168.42.2  $P-b
#
# Each NAT box masquerades its private network behind its public address.
# MODE "cone" (default): Linux conntrack keeps the source port unless it
# collides. MODE "symmetric": `fully-random`, a fresh random source port for
# every new destination, so the mapping a peer learns by STUN is useless to
# anyone else. MODE "none": no NAT at all, the box only routes, and the router
# knows the private network: its peers are public. Peers a and c share NAT A
# (a bridge on its private side). Hops from a peer: its NAT (1), the router
# (2), the other NAT (3), so a punch with TTL 2 opens the sender's NAT and
# dies at the router.
#
# usage: netns-nat.sh up PREFIX [MODE_A [MODE_B]] | down PREFIX | stats PREFIX
#   MODE_* is cone, symmetric or none (NAT A's and NAT B's); MODE_B defaults to MODE_A.
set -euo pipefail
cmd=${1:?up|down|stats}
P=${2:?prefix}
MODE_A=${3:-cone}
MODE_B=${4:-$MODE_A}

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

down() {
  for ns in a b c nata natb r pub; do
    ip netns del "$P-$ns" 2>/dev/null || true
  done
}

nat_rules() {
  # $1 = namespace, $2 = public interface, $3 = private subnet, $4 = mode, $5 = its public address
  local nft_flag="" ipt_flag=""
  case "$4" in
    none)
      # A plain router: the private network is public.
      nsx r ip route add "$3" via "$5"
      return 0
      ;;
    symmetric)
      nft_flag="fully-random"
      ipt_flag="--random-fully"
      ;;
  esac
  if command -v nft >/dev/null 2>&1; then
    nsx "$1" nft -f - <<NFT
table ip nqnat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $3 oifname "$2" masquerade $nft_flag
  }
}
NFT
  elif command -v iptables >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    nsx "$1" iptables -t nat -A POSTROUTING -s "$3" -o "$2" -j MASQUERADE $ipt_flag
  else
    echo "neither nft nor iptables is installed" >&2
    return 3
  fi
}

up() {
  for mode in "$MODE_A" "$MODE_B"; do
    case "$mode" in cone | symmetric | none) ;; *) echo "unknown NAT mode $mode" >&2; return 2 ;; esac
  done
  down
  for ns in pub r nata natb a b c; do
    ip netns add "$P-$ns"
    nsx "$ns" ip link set lo up
  done
  # router <-> rendezvous, router <-> NAT A, router <-> NAT B
  ip -n "$P-r" link add rpub type veth peer name eth0 netns "$P-pub"
  ip -n "$P-r" link add rna type veth peer name pub0 netns "$P-nata"
  ip -n "$P-r" link add rnb type veth peer name pub0 netns "$P-natb"
  # NATs <-> their peers (NAT A: a bridge, for peers a and c)
  ip -n "$P-nata" link add priv0 type bridge
  ip -n "$P-nata" link add pa type veth peer name eth0 netns "$P-a"
  ip -n "$P-nata" link add pc type veth peer name eth0 netns "$P-c"
  ip -n "$P-nata" link set pa master priv0
  ip -n "$P-nata" link set pc master priv0
  ip -n "$P-natb" link add priv0 type veth peer name eth0 netns "$P-b"

  nsx r ip addr add 10.99.0.254/24 dev rpub
  nsx r ip addr add 10.99.1.254/24 dev rna
  nsx r ip addr add 10.99.2.254/24 dev rnb
  nsx pub ip addr add 10.99.0.1/24 dev eth0
  nsx pub ip addr add 10.99.0.2/24 dev eth0
  nsx nata ip addr add 10.99.1.2/24 dev pub0
  nsx nata ip addr add 192.168.41.1/24 dev priv0
  nsx natb ip addr add 10.99.2.3/24 dev pub0
  nsx natb ip addr add 192.168.42.1/24 dev priv0
  nsx a ip addr add 192.168.41.2/24 dev eth0
  nsx b ip addr add 192.168.42.2/24 dev eth0
  nsx c ip addr add 192.168.41.3/24 dev eth0
  for pair in r:rpub r:rna r:rnb pub:eth0 nata:pub0 nata:priv0 nata:pa nata:pc natb:pub0 natb:priv0 a:eth0 b:eth0 c:eth0; do
    nsx "${pair%%:*}" ip link set "${pair#*:}" up
  done
  nsx pub ip route add default via 10.99.0.254
  nsx nata ip route add default via 10.99.1.254
  nsx natb ip route add default via 10.99.2.254
  nsx a ip route add default via 192.168.41.1
  nsx b ip route add default via 192.168.42.1
  nsx c ip route add default via 192.168.41.1
  for ns in r nata natb; do
    nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
  done
  nat_rules nata pub0 192.168.41.0/24 "$MODE_A" 10.99.1.2
  nat_rules natb pub0 192.168.42.0/24 "$MODE_B" 10.99.2.3
}

stats() {
  # Byte counters (one "name value" per line) the test compares before and
  # after the direct connection.
  rd() { nsx "$1" cat "/sys/class/net/$2/statistics/$3"; }
  echo "pub_rx $(rd pub eth0 rx_bytes)"
  echo "pub_tx $(rd pub eth0 tx_bytes)"
  echo "r_to_natb $(rd r rnb tx_bytes)"
  echo "r_from_natb $(rd r rnb rx_bytes)"
  echo "r_to_nata $(rd r rna tx_bytes)"
  echo "r_from_nata $(rd r rna rx_bytes)"
  # Packets the router dropped because their TTL ran out (the low-TTL punches).
  echo "r_ttl_expired $(nsx r awk '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InHdrErrors") c = i; h = 1 } else print $c }' /proc/net/snmp)"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  stats) stats ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
