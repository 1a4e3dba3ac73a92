#!/usr/bin/env bash
# Draws perplexity against evaluation length from an alibi-eval CSV: one line
# per checkpoint, log-scale length axis, a dashed vertical line at each
# training length; the perplexity axis is logarithmic when the values span
# more than a factor of 8. Rows that could not run (n/a) are left out.
#
#   scripts/plot_eval.sh RESULTS.csv OUT.png [word|token]   (default: word)
#
# Needs gnuplot (Debian: gnuplot-nox, installed by scripts/setup.sh). Exits
# with status 3 and says so when it is missing, 2 on bad arguments.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 RESULTS.csv OUT.png [word|token]" >&2
  exit 2
fi
csv=$1 png=$2 metric=${3:-word}
case "$metric" in word|token) ;; *) echo "plot_eval.sh: metric must be word or token, not '$metric'" >&2; exit 2 ;; esac
[ -r "$csv" ] || { echo "plot_eval.sh: cannot read $csv" >&2; exit 2; }
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "plot_eval.sh: gnuplot is not installed (Debian: apt-get install gnuplot-nox, or run scripts/setup.sh)" >&2
  exit 3
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Split the CSV (quoted fields allowed, RFC 4180) into one data file per
# label: "length perplexity" lines in file order. Columns are found by name.
awk -v dir="$tmp" -v metric="$metric" '
  function split_csv(line, out,    n, i, c, field, quoted) {
    n = 0; field = ""; quoted = 0
    for (i = 1; i <= length(line); i++) {
      c = substr(line, i, 1)
      if (quoted) {
        if (c == "\"" && substr(line, i + 1, 1) == "\"") { field = field "\""; i++ }
        else if (c == "\"") quoted = 0
        else field = field c
      } else if (c == "\"") quoted = 1
      else if (c == ",") { out[++n] = field; field = "" }
      else field = field c
    }
    out[++n] = field
    return n
  }
  NR == 1 { n = split_csv($0, head); for (i = 1; i <= n; i++) col[head[i]] = i; next }
  {
    split_csv($0, f)
    if (f[col["available"]] != "1") next
    value = f[col[metric "_ppl"]] + 0
    if (value <= 0) next  # no word counts in the split
    label = f[col["label"]]
    if (!(label in series)) { series[label] = ++count; print label > (dir "/labels") }
    L = f[col["length"]] + 0
    print L, value > (dir "/series_" series[label] ".dat")
    if (!(L in seen)) { seen[L] = 1; tics = tics (tics == "" ? "" : ", ") "\"" L "\" " L }
    note_x(L); note_x(f[col["train_length"]] + 0)
    if (lo == "" || value < lo) lo = value
    if (hi == "" || value > hi) hi = value
    if (!(f[col["train_length"]] in trained)) { trained[f[col["train_length"]]] = 1; print f[col["train_length"]] > (dir "/train_lengths") }
  }
  function note_x(x) { if (xlo == "" || x < xlo) xlo = x; if (xhi == "" || x > xhi) xhi = x }
  END {
    if (lo > 0 && hi / lo > 8) print "yes" > (dir "/logy")
    # Room on both sides, so a training length at the edge stays visible.
    printf "set xrange [%g:%g]\nset xtics (%s)\n", xlo / 1.25, xhi * 1.25, tics > (dir "/xaxis")
  }
' "$csv"
[ -s "$tmp/labels" ] || { echo "plot_eval.sh: $csv has no results to plot" >&2; exit 2; }

{
  echo "set terminal pngcairo size 900,560 font 'Sans,11' noenhanced"
  echo "set output '${png//\'/\'\'}'"
  echo "set title '${metric}-level perplexity against evaluation length'"
  echo "set xlabel 'evaluation length (tokens, log scale)'"
  echo "set ylabel '${metric}-level perplexity'"
  echo "set logscale x 2"
  cat "$tmp/xaxis"
  echo "set offsets 0, 0, graph 0.05, graph 0.05"
  echo "set grid xtics ytics lc rgb '#dddddd'"
  echo "set key outside right top"
  # Baselines that blow up past their training length would flatten the rest.
  [ -s "$tmp/logy" ] && echo "set logscale y"
  n=0
  while read -r L; do
    n=$((n + 1))
    echo "set arrow $n from $L, graph 0 to $L, graph 1 nohead dashtype 2 lw 1.5 lc rgb '#888888'"
    echo "set label $n 'train $L' at $L, graph 0.97 offset 0.5,0 left tc rgb '#666666'"
  done < "$tmp/train_lengths"
  printf "plot "
  i=0
  while IFS= read -r label; do
    i=$((i + 1))
    [ $i -gt 1 ] && printf ", "
    printf "'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" "$tmp/series_$i.dat" "${label//\'/\'\'}"
  done < "$tmp/labels"
  echo
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
echo "$png"
