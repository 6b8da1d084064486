#!/usr/bin/env bash
# Sourced by test.sh: starts Debian's PostgreSQL cluster on loopback (if not running), sets the postgres password,
# creates the test database and exports EDGEMASK_TEST_POSTGRES for the dashboard's store tests.
cluster_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
if [[ -z "$cluster_version" ]]; then
  echo "start-postgres: no PostgreSQL cluster (apt-get install postgresql)"; return 1
fi
if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
  pg_ctlcluster "$cluster_version" main start || return 1
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null || return 1
su postgres -c "psql -qAtc \"SELECT 1 FROM pg_database WHERE datname='edgemask_test'\"" | grep -q 1 \
  || su postgres -c "createdb edgemask_test" || return 1
export EDGEMASK_TEST_POSTGRES="Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=edgemask_test"
echo "start-postgres: PostgreSQL $cluster_version on 127.0.0.1:5432"
