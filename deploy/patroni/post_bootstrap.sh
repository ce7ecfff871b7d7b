#!/bin/sh
# Run by Patroni once, on the member that initializes the cluster, with a connection URL of the
# new primary as $1: creates the web tier's role and database (replicated to every member from
# there). The role is no superuser: it owns its database and tables and may read the replication
# statistics (src/lab/engines/postgres_credentials.h). Rendered by src/lab/engines/patroni.cc
# (mode 0700, user postgres) with the lab's own password (docs/security.md).
set -e
{{bin_dir}}/psql "$1" -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE {{db_user}} LOGIN NOSUPERUSER PASSWORD '{{db_password}}'" \
  -c "GRANT pg_read_all_stats TO {{db_user}}" \
  -c "CREATE DATABASE {{db_name}} OWNER {{db_user}}"
