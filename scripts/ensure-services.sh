#!/usr/bin/env bash
# Make sure the servers the test suite talks to are installed and running on loopback.
# PostgreSQL, MariaDB and Redis come with the machine (started here if stopped);
# OpenLDAP's slapd and ldap-utils are installed from Debian's packages (the tests start
# their own slapd on a free port).
set -euo pipefail

need_root() { [ "$(id -u)" = 0 ] || { echo "ensure-services: run as root to install packages" >&2; exit 1; }; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  echo "ensure-services: nothing listens on 127.0.0.1:$1 after start" >&2; return 1
}

if ! port_open 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_port 5432
fi
if ! port_open 3306; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port 3306
fi
if ! port_open 6379; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
fi

# Store tests check a rejected password: members of the group role subwarden_pw must
# authenticate by password (every other role keeps the machine's trust rule).
pg_hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | head -1 || true)
if [ -n "$pg_hba" ] && ! grep -q '+subwarden_pw' "$pg_hba"; then
  need_root
  sed -i '0,/^host[[:space:]]/s//host    all    +subwarden_pw    127.0.0.1\/32    scram-sha-256\n&/' "$pg_hba"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
fi
psql -q -h 127.0.0.1 -U postgres -d postgres >/dev/null <<'SQL'
DO $$ BEGIN CREATE ROLE subwarden_pw NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SQL

missing=()
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || missing+=(slapd)
command -v ldapadd >/dev/null 2>&1 || missing+=(ldap-utils)
if [ ${#missing[@]} -gt 0 ]; then
  need_root
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts a system slapd we do not use; the tests run their own.
  (service slapd stop || pkill -x slapd || true) >/dev/null 2>&1
fi
echo "ensure-services: postgresql, mariadb, redis up; slapd installed"
