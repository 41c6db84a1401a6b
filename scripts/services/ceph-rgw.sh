#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with radosgw (an S3 API) on 127.0.0.1, for the S3 tests.
#   scripts/services/ceph-rgw.sh start DIR   installs the Debian packages if missing, starts mon + one
#                                            in-memory OSD + radosgw, creates an S3 user, and writes
#                                            DIR/env (FILESHARE_TEST_S3_* settings) and DIR/pids
#   scripts/services/ceph-rgw.sh stop DIR    kills the recorded PIDs (only those) and removes DIR
# Ceph's ports are fixed (mon 3300/6789, OSD 6800-6807, rgw $RGW_PORT): one cluster per machine.
# What was found to work here, and why each setting is there: ../shared/notes/s3-ceph-rgw.md.
set -euo pipefail
cmd=${1:?usage: ceph-rgw.sh start|stop DIR}
dir=${2:?usage: ceph-rgw.sh start|stop DIR}
port=${RGW_PORT:-7480}
access_key=fileshareaccesskey00
secret_key=filesharesecretkey000000000000000000000

stop() {
  if [ -f "$dir/pids" ]; then
    # SIGKILL is fine: the data is throwaway (SIGTERM makes rgw and the OSD wait for each other)
    pids=$(cat "$dir/pids")
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
      alive=0
      for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.1
    done
  fi
  rm -rf "$dir"
}

fail() {
  echo "ceph-rgw: $1" >&2
  for f in "$dir"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  stop
  exit 1
}

wait_for() { # wait_for WHAT COMMAND...: up to 30 s
  local what=$1; shift
  for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not become ready in 30 s"
}

start() {
  if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null; then
    echo "ceph-rgw: installing radosgw ceph-mon ceph-osd (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null
  fi
  for p in 3300 6789 "$port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "ceph-rgw: port $p is in use (another cluster running?)" >&2; exit 1; fi
  done
  rm -rf "$dir"
  mkdir -p "$dir"/{run,log,mon.a,osd.0,rgw}
  : >"$dir/pids"
  local fsid; fsid=$(uuidgen)
  cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
ms client mode = crc secure
ms mon service mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure
ms mon cluster mode = crc secure
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# No debug logging, to the files or to the in-memory ring: at the default levels rgw wrote a few
# lines per request, and the daemons' logging was a large share of their CPU under the tests.
debug rgw = 0/0
debug ms = 0/0
debug osd = 0/0
debug mon = 0/0
debug paxos = 0/0
debug auth = 0/0
debug monc = 0/0
debug objecter = 0/0
debug rados = 0/0
debug memstore = 0/0
debug objclass = 0/0
debug asok = 0/0
debug finisher = 0/0
debug heartbeatmap = 0/0
debug perfcounter = 0/0
debug context = 0/0
debug crush = 0/0
[mon]
mon data = $dir/mon.\$id
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.01
paxos min wait = 0.001
[osd]
osd data = $dir/osd.\$id
osd objectstore = memstore
memstore device bytes = ${MEMSTORE_BYTES:-6442450944}
osd class load list = *
osd class default list = *
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw dns name = localhost
rgw thread pool size = 64
rgw gc obj min wait = 10
rgw gc processor period = 10
CONF
  export CEPH_CONF="$dir/ceph.conf"
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$dir/monmap" >>"$dir/log/mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed"
  # -f (foreground) + &: $! is the daemon itself; output to files, never a pipe the caller waits on
  ceph-mon -i a -f </dev/null >>"$dir/log/mon.out" 2>&1 &
  echo $! >>"$dir/pids"
  wait_for "the monitor" ceph --connect-timeout 2 mon stat
  local osd_uuid osd_id; osd_uuid=$(uuidgen)
  osd_id=$(ceph osd new "$osd_uuid")
  ceph-osd -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/mkfs.out" 2>&1 || fail "ceph-osd --mkfs failed"
  ceph-osd -i "$osd_id" -f </dev/null >>"$dir/log/osd.out" 2>&1 &
  echo $! >>"$dir/pids"
  wait_for "the OSD" bash -c 'ceph osd stat -f json | grep -q "\"num_up_osds\":1"'
  radosgw -n client.rgw.a -f </dev/null >>"$dir/log/rgw.out" 2>&1 &
  echo $! >>"$dir/pids"
  wait_for "radosgw" curl -fsS -o /dev/null "http://127.0.0.1:$port/"
  radosgw-admin user create --uid=fileshare --display-name=fileshare \
    --access-key="$access_key" --secret-key="$secret_key" >/dev/null 2>>"$dir/log/admin.out" || fail "radosgw-admin user create failed"
  cat >"$dir/env" <<ENV
FILESHARE_TEST_S3_ENDPOINT=http://127.0.0.1:$port
FILESHARE_TEST_S3_REGION=us-east-1
FILESHARE_TEST_S3_ACCESS_KEY=$access_key
FILESHARE_TEST_S3_SECRET_KEY=$secret_key
ENV
  echo "ceph-rgw: S3 API on http://127.0.0.1:$port (PIDs $(tr '\n' ' ' <"$dir/pids"))"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: ceph-rgw.sh start|stop DIR" >&2; exit 2 ;;
esac
