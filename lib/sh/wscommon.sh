# wscommon.sh -- what every shell script of the stack shares: its log
# lines, its fatal errors, the whole-number rule for settings, and
# reading a list setting without word splitting.
#
# Sourced, never run (no "#!", mode 0644).  A script sets PROG, the name
# its lines start with, and then sources this file, which it finds
# beside itself in an image (each Dockerfile copies it there) or in
# lib/sh/ of the source tree (docs/ARCHITECTURE.md, "shared shell library"):
#     # shellcheck disable=SC2034 # read by wscommon.sh (log, die)
#     PROG=log-rotate
#     here=$(dirname "$(readlink -f "$0")")
#     lib=$here/wscommon.sh
#     [ -r "$lib" ] || lib=$here/../lib/sh/wscommon.sh
#     # shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
#     . "$lib"
# (The disable: shellcheck given one script alone does not read this file,
# and would call PROG unused.)  POSIX sh (Debian's /bin/sh, dash, runs the
# scripts), and nothing here runs a command at source time, sets an option
# or a trap, or reads a setting: each script keeps its own settings,
# checks and messages.

# shellcheck shell=sh
: "${PROG:?set PROG before sourcing wscommon.sh}"

# log WORDS...: one line "PROG: WORDS" on stderr.
log() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

# die WORDS...: log "error: WORDS" and exit 1.  For a script that cannot
# go on; the container then restarts with the reason in its log.
die() {
    log "error: $*"
    exit 1
}

# is_number VALUE MIN MAX: 0 when VALUE is a whole number from MIN to MAX,
# else 1, silently.  No sign, no leading zero (shell arithmetic reads 010
# as octal), and no more digits than MAX has (so that "test" never meets a
# number too large for it).
is_number() {
    case $1 in
        '' | *[!0-9]* | 0?*) return 1 ;;
    esac
    [ "${#1}" -le "${#3}" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# number_wanted NAME VALUE MIN MAX: print what check_number and
# need_number say about a bad VALUE of setting NAME.
number_wanted() {
    printf '%s="%s": want a whole number from %s to %s' "$1" "$2" "$3" "$4"
}

# check_number NAME VALUE MIN MAX: 0 when VALUE, the value of setting
# NAME, is a whole number from MIN to MAX (is_number); otherwise log why
# and return 1, so that a caller can name every bad setting before it
# stops.
check_number() {
    is_number "$2" "$3" "$4" && return 0
    log "$(number_wanted "$@")"
    return 1
}

# need_number NAME VALUE MIN MAX: check_number where a bad value is fatal
# (die).
need_number() {
    is_number "$2" "$3" "$4" || die "$(number_wanted "$@")"
}

# words TEXT: print the blank-separated words of TEXT one per line, and
# nothing for blank TEXT.  A list setting ("host:port host:port", file
# names) is read with
#     while read -r w; do
#         [ -n "$w" ] || continue     # a blank list: one empty line
#         ...
#     done <<EOF
#     $(words "$LIST")
#     EOF
# so that no unquoted expansion splits (or globs) it, and the loop runs in
# this shell (a "die" in it stops the script, unlike in a pipeline).
words() {
    printf '%s\n' "$1" | tr -s ' \t' '\n' | sed '/^$/d'
}
