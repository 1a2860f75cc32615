#!/usr/bin/env bash
# Checks C++ sources against the committed .clang-format.
#
#   scripts/format-check.sh            files changed since the base (below)
#   scripts/format-check.sh BASE       files changed since BASE (a commit or ref)
#   scripts/format-check.sh --all      every C++ file in the repository
#   add --fix to any of these to format the files in place instead
#
# The default base is the merge base with origin/main, or HEAD~1 when there is
# no such remote (CI checks out the full history, so both exist there).
# "Changed" counts committed and uncommitted changes against the base; deleted
# files are skipped. Tables may opt out with // clang-format off ... on.
# Exits 1 and lists the files (with a diff of the first few) when any drifts.
# CLANG_FORMAT picks the binary (default: clang-format-14, else clang-format).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

all=0 fix=0 base=
for arg in "$@"; do
  case $arg in
    --all) all=1 ;;
    --fix) fix=1 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "format-check.sh: unknown option $arg" >&2; exit 2 ;;
    *) base=$arg ;;
  esac
done

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null; then cf=$c; break; fi
  done
fi
[ -n "$cf" ] || { echo "format-check.sh: clang-format is missing (apt-get install clang-format)" >&2; exit 2; }

# C++ sources only; vendored JavaScript dependencies are not ours.
pattern='\.(cpp|hpp|h|cc|cxx|hxx)$'
exclude='(^|/)node_modules/'
if [ "$all" = 1 ]; then
  mapfile -t files < <(git ls-files | grep -E "$pattern" | grep -Ev "$exclude" || true)
  what="C++ files"
else
  if [ -z "$base" ]; then
    if git rev-parse -q --verify origin/main >/dev/null; then
      base=$(git merge-base HEAD origin/main)
    else
      base=HEAD~1
    fi
  fi
  git rev-parse -q --verify "$base^{commit}" >/dev/null ||
    { echo "format-check.sh: no such commit: $base" >&2; exit 2; }
  mapfile -t files < <(git diff --name-only --diff-filter=d "$base" -- | grep -E "$pattern" |
    grep -Ev "$exclude" || true)
  what="C++ files changed since $(git rev-parse --short "$base")"
fi

if [ ${#files[@]} -eq 0 ]; then
  echo "format-check: no $what"
  exit 0
fi

if [ "$fix" = 1 ]; then
  "$cf" -i --style=file "${files[@]}"
  echo "format-check: formatted ${#files[@]} $what"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  "$cf" --dry-run --Werror --style=file "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then
  echo "format-check: ${#files[@]} $what follow .clang-format"
  exit 0
fi
echo "format-check: ${#bad[@]} of ${#files[@]} $what drift from .clang-format:"
printf '  %s\n' "${bad[@]}"
for f in "${bad[@]:0:3}"; do
  "$cf" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - | head -40 || true
done
if [ "$all" = 1 ]; then
  echo "fix with: scripts/format-check.sh --all --fix"
else
  echo "fix with: scripts/format-check.sh $base --fix"
fi
exit 1
