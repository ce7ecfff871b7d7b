#!/bin/sh
# Run by Patroni once, on the member that initializes the cluster, with a connection URL of the
# new primary as $1: creates the lab's role and database (replicated to every member from there).
# Rendered by src/lab/engines/patroni.cc; lab-only credentials (docs/lab.md).
set -e
{{bin_dir}}/psql "$1" -v ON_ERROR_STOP=1 -c "CREATE ROLE {{db_user}} LOGIN SUPERUSER PASSWORD '{{db_password}}'" \
  -c "CREATE DATABASE {{db_name}} OWNER {{db_user}}"
