# Reads benchmark/contenders.tsv into parallel arrays (sourced by run.sh).

C_IDS=() ; declare -A C_LABEL C_CMD C_VERCMD C_STATUS C_REASON C_VERSION C_INDEX

expand_paths() { local s=$1; s=${s//\$REPO/$REPO_DIR}; s=${s//\$CACHE/$CACHE_DIR}; printf '%s' "$s"; }

load_contenders() {
  local id label cmd ver n=0 wanted=" ${BENCH_CONTENDERS:-} "
  while IFS=$'\t' read -r id label cmd ver; do
    [[ -z $id || $id == \#* ]] && continue
    [[ -n ${BENCH_CONTENDERS:-} && $wanted != *" $id "* ]] && continue
    C_IDS+=("$id")
    C_LABEL[$id]=$label
    C_CMD[$id]=$(expand_paths "$cmd")
    C_VERCMD[$id]=$(expand_paths "$ver")
    C_STATUS[$id]=pending
    C_REASON[$id]=""
    C_INDEX[$id]=$((n++))
  done <"$BENCH_DIR/contenders.tsv"
}

is_tunnel() { [[ $1 != veth ]]; }

# mark_failed ID REASON: the contender is skipped from here on and reported with the reason.
mark_failed() {
  C_STATUS[$1]=failed
  C_REASON[$1]=$2
  warn "$1: $2"
}

usable() { [[ ${C_STATUS[$1]} != failed ]]; }

# contender_command ID IFNAME: the argv (one word per line is not needed: no quoting in the table).
contender_command() { printf '%s' "${C_CMD[$1]//IFNAME/$2}"; }

record_contenders() {
  local id
  for id in "${C_IDS[@]}"; do
    emit kind=contender id="$id" label="${C_LABEL[$id]}" version="${C_VERSION[$id]:-}" \
      status="${C_STATUS[$id]}" reason="${C_REASON[$id]}" command="${C_CMD[$id]}"
  done
}
