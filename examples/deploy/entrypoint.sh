#!/bin/sh
# agora-entrypoint: starts one voter of a fixed Raft group of agora-mesh daemons (the compose file's
# three voters), where the voters learn each other's peer ids through a shared directory.
#
#   1. prints this data dir's peer id (creating the identity on first start) into $AGORA_SHARED/<name>.id
#   2. waits (at most $AGORA_WAIT_S seconds) until every voter in $AGORA_VOTERS published its id
#   3. execs `agora start` with --raft-voters <their ids> and a --bootstrap address for every other voter
#      (its host name resolved with getent, port $AGORA_P2P_PORT, its peer id)
#
# Environment (defaults in brackets):
#   AGORA_NAME      this voter's name, a host name the other voters resolve (required)
#   AGORA_VOTERS    comma-separated names of all voters, this one included (required)
#   AGORA_SHARED    a directory every voter mounts (required)
#   AGORA_DATA      data dir [/data]
#   AGORA_LISTEN_IP libp2p listen address [0.0.0.0]
#   AGORA_P2P_PORT  libp2p TCP port, the same on every voter [4001]
#   AGORA_HTTP      HTTP API address [0.0.0.0:7070] (the token is in $AGORA_DATA/http.token)
#   AGORA_CONFIG    a config file passed as --config (optional; flags above win over it)
#   AGORA_CLI       how to run the CLI [node /app/dist/src/cli.js]
#   AGORA_WAIT_S    how long to wait for the other voters' ids [120]
# Extra arguments are passed to `agora start`.
set -eu
: "${AGORA_NAME:?AGORA_NAME is required}" "${AGORA_VOTERS:?AGORA_VOTERS is required}" "${AGORA_SHARED:?AGORA_SHARED is required}"
DATA=${AGORA_DATA:-/data}
LISTEN_IP=${AGORA_LISTEN_IP:-0.0.0.0}
PORT=${AGORA_P2P_PORT:-4001}
HTTP=${AGORA_HTTP:-0.0.0.0:7070}
CLI=${AGORA_CLI:-node /app/dist/src/cli.js}
WAIT_S=${AGORA_WAIT_S:-120}

say () { printf 'agora-entrypoint: %s\n' "$*" >&2; }

mkdir -p "$DATA" "$AGORA_SHARED"
id=$($CLI id --data-dir "$DATA")
printf '%s\n' "$id" > "$AGORA_SHARED/$AGORA_NAME.id.tmp"
mv "$AGORA_SHARED/$AGORA_NAME.id.tmp" "$AGORA_SHARED/$AGORA_NAME.id"
say "$AGORA_NAME is $id"

# Every voter's id, in the order of AGORA_VOTERS (the same list on every voter).
ids=''
for v in $(printf '%s' "$AGORA_VOTERS" | tr ',' ' '); do
  tries=0
  while [ ! -s "$AGORA_SHARED/$v.id" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt $((WAIT_S * 10)) ]; then say "no peer id from $v after ${WAIT_S}s"; exit 1; fi
    sleep 0.1
  done
  ids="${ids:+$ids,}$(cat "$AGORA_SHARED/$v.id")"
done

# Bootstrap through every other voter.
boot=''
for v in $(printf '%s' "$AGORA_VOTERS" | tr ',' ' '); do
  [ "$v" = "$AGORA_NAME" ] && continue
  ip=$(getent hosts "$v" | awk '{ print $1; exit }')
  if [ -z "$ip" ]; then say "cannot resolve $v"; exit 1; fi
  boot="$boot --bootstrap /ip4/$ip/tcp/$PORT/p2p/$(cat "$AGORA_SHARED/$v.id")"
done

say "starting with voters $ids"
# shellcheck disable=SC2086 # $CLI and $boot are word lists
exec $CLI start --data-dir "$DATA" --listen "/ip4/$LISTEN_IP/tcp/$PORT" --http "$HTTP" --http-insecure --raft-voters "$ids" $boot ${AGORA_CONFIG:+--config "$AGORA_CONFIG"} "$@"
