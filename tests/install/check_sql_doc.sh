#!/bin/sh
# check_sql_doc.sh TASKSCOPE GEN_SQL_DOC DESCRIPTIONS PAGE PROGRAM WORK
#
# taskscope-sql(7) against a real recording: `taskscope run` records
# PROGRAM, and the tables and views of that recording (its sqlite_master)
# must be exactly the ones the page documents (its ".SS name (type)"
# headings).  Then gen_sql_doc --check: every table, view and column has
# a description, and no description names something the store lacks.
set -eu
taskscope=$1 gen=$2 desc=$3 page=$4 program=$5 work=$6
rm -rf "$work"
mkdir -p "$work"
"$taskscope" run -o "$work/rec.db" -- "$program" >"$work/run.log" 2>&1 || {
    cat "$work/run.log"
    echo "FAIL: taskscope run -o $work/rec.db -- $program"
    exit 1
}
"$gen" --objects "$work/rec.db" | sort >"$work/recorded"
sed -n 's/^\.SS \([A-Za-z0-9_]*\) (\(table\|view\))$/\1/p' "$page" | sort >"$work/documented"
[ -s "$work/recorded" ] || { echo "FAIL: no tables in the recording"; exit 1; }
if ! cmp -s "$work/recorded" "$work/documented"; then
    echo "FAIL: the recording's tables and views differ from those $page documents"
    echo "(< only in the recording, > only in the page)"
    diff "$work/recorded" "$work/documented" || true
    exit 1
fi
echo "ok: $(wc -l <"$work/recorded") tables and views, each documented"
"$gen" --check "$desc" "$work/check.7" || {
    echo "FAIL: gen_sql_doc --check: see above"
    exit 1
}
echo "ok: every column described, no stale description"
rm -rf "$work"
