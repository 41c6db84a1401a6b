#!/usr/bin/env bash
# A throwaway PostgreSQL 15 on 127.0.0.1, for the PostgreSQL tests.
#   scripts/services/postgres.sh start DIR   installs Debian's postgresql if missing, initdb + pg_ctl
#                                            on a free port, writes DIR/env (FILESHARE_TEST_PG_URL)
#                                            and DIR/pids
#   scripts/services/postgres.sh stop DIR    stops that server (immediate), kills its PID if needed,
#                                            and removes DIR
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bin=/usr/lib/postgresql/15/bin

stop() {
  if [ -f "$dir/pids" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    for pid in $(cat "$dir/pids"); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$dir"
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start() {
  if [ ! -x "$bin/initdb" ]; then
    echo "postgres: installing postgresql (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  if ! runuser -u postgres -- test -x "$dir"; then
    echo "postgres: the user postgres cannot reach $dir: make its parent folders traversable (chmod o+x)" >&2
    stop; exit 1
  fi
  local port; port=$(free_port)
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync --no-instructions \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; stop; exit 1; }
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null; then
    tail -n 20 "$dir/server.log" >&2; stop; exit 1
  fi
  head -1 "$dir/data/postmaster.pid" >"$dir/pids"
  echo "FILESHARE_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres" >"$dir/env"
  echo "postgres: on 127.0.0.1:$port (PID $(cat "$dir/pids"))"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac
