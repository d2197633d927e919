#!/bin/sh
# Runs the real udsbrokerd ($UDSB_REAL_UDSBROKERD) under valgrind memcheck;
# set up by valgrind-test.sh. Errors and leaks make valgrind exit 99
# instead of the daemon's status, so broker_stop() sees a failure; the
# report goes to a log in $UDSB_VALGRIND_LOGDIR, which valgrind-test.sh
# reads after the test.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
exec valgrind \
	--tool=memcheck \
	--error-exitcode=99 \
	--leak-check=full \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible \
	--suppressions="$here/valgrind.supp" \
	--log-file="${UDSB_VALGRIND_LOGDIR:-/tmp}/udsbrokerd.%p.log" \
	"${UDSB_REAL_UDSBROKERD:?not set: run through valgrind-test.sh}" "$@"
