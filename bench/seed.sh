#!/usr/bin/env bash
# Fills an authd database (migrated, and holding at least one user made through the API, whose
# password hash every seeded user shares) with a deployment's worth of rows, in set-based SQL
# run by Postgres itself (no row crosses the network one by one):
#
#   bench/seed.sh DATABASE_URL [users] [clients] [sessions] [revocations]
#
# Defaults: 1,000,000 users (`seed-0000001`…, each with the template user's password),
# 100,000 clients (client_credentials, secret `seed-secret-N`), 1,000,000 sessions (a refresh
# family and a live refresh token each) and 200,000 live revocations (jti, an hour to go).
# Prints how long each table took. Used by bench/scale.sh; runs in a few minutes.
set -euo pipefail

database_url=${1:?usage: bench/seed.sh DATABASE_URL [users] [clients] [sessions] [revocations]}
users=${2:-1000000}
clients=${3:-100000}
sessions=${4:-1000000}
revocations=${5:-200000}

step() { # step <what> <sql>: runs it, says how long it took
  local began=$SECONDS
  psql -q -v ON_ERROR_STOP=1 "$database_url" -c "$2" >/dev/null
  echo "    $1: $((SECONDS - began)) s"
}

template=$(psql -tA "$database_url" -c \
  "SELECT id FROM users WHERE password_hash IS NOT NULL ORDER BY created_at LIMIT 1")
if [ -z "$template" ]; then
  echo "seed.sh: register one user through the API first: its password hash is every seeded user's" >&2
  exit 1
fi

echo "==> seeding $users users, $clients clients, $sessions sessions, $revocations revocations"
step "users" "
  INSERT INTO users (id, username, email, password_hash, created_at)
  SELECT gen_random_uuid(), format('seed-%s', lpad(n::text, 7, '0')),
         format('seed-%s@seed.example', n),
         (SELECT password_hash FROM users WHERE id = '$template'),
         now() - (n || ' seconds')::interval
  FROM generate_series(1, $users) AS n"
step "clients" "
  INSERT INTO clients (client_id, name, secret_hash, scope, grant_types, created_at)
  SELECT format('seed-client-%s', n), format('Seeded service %s', n),
         sha256(convert_to(format('seed-secret-%s', n), 'UTF8')), 'reports:read',
         '{client_credentials}', now()
  FROM generate_series(1, $clients) AS n"
# Sessions of the seeded users, round robin; each with one live refresh token.
step "sessions" "
  WITH seeded AS (
    SELECT id, row_number() OVER () AS n FROM users WHERE username LIKE 'seed-%'
  ), families AS (
    INSERT INTO refresh_families (id, user_id, scope, created_at)
    SELECT gen_random_uuid(), seeded.id, '', now()
    FROM generate_series(1, $sessions) AS s
    JOIN seeded ON seeded.n = 1 + (s - 1) % GREATEST((SELECT count(*) FROM seeded), 1)
    RETURNING id, user_id
  )
  INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
  SELECT gen_random_uuid(), id, user_id, sha256(convert_to(gen_random_uuid()::text, 'UTF8')),
         now(), now() + interval '14 days'
  FROM families"
step "revocations" "
  INSERT INTO revocations (kind, id, expires_at, revoked_at)
  SELECT 'jti', gen_random_uuid()::text, now() + interval '1 hour', now()
  FROM generate_series(1, $revocations)"
step "analyze" "ANALYZE"
psql -tA "$database_url" -c "SELECT pg_size_pretty(pg_database_size(current_database()))" |
  sed 's/^/    database size: /'
