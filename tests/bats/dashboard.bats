#!/usr/bin/env bats
# The web dashboard (web/, served by apid at /) in a real headless Chromium
# (Debian's chromium, driven by playwright-core from npm: no browser of its
# own is downloaded): a wrong token is refused with a message; signed in,
# a job submitted through the form runs through the four real daemons into
# libvirt's test driver and its row reaches `imported` without a reload;
# its page shows its history and log; a job whose name is markup shows it
# as text; retry and the vSphere form; a slow http job's progress moves and
# its Cancel button stops it (apid unprivileged, as its unit runs it:
# through queued); apid restarted under the page is reconnected
# to, and what moved meanwhile shows. apid serves web/ (api.web_root).
# A screenshot of each step is kept in $SHOTS (printed; default
# build/tests/dashboard, or DASHBOARD_SHOTS).

load helpers

NPMDIR=$BATS_TEST_DIRNAME/../npm/dashboard
WEBDIR=$BATS_TEST_DIRNAME/../../web
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample

setup_file() {
	command -v chromium >/dev/null ||
	    { echo "chromium missing (contrib/install-deps)" >&3; return 1; }
	command -v npm >/dev/null ||
	    { echo "npm missing (it comes with this machine's nodejs)" >&3; return 1; }
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$NPMDIR" \
	    --no-audit --no-fund >/dev/null 2>&1 ||
	    { echo "npm ci --prefix tests/npm/dashboard failed" >&3; return 1; }
}

setup() {
	hs_setup
	mkdir -p "$T/out"
	"$SAMPLE/mkova" "$T/src" >/dev/null
	TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	(umask 077; printf '# the dashboard test\nadmin %s dash\n' "$TOKEN" >"$T/tokens")
	cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
importd = { domain_type = "qemu"; };
defaults = { import = { uri = "test:///default"; }; };
api = { tokens_file = "$T/tokens"; web_root = "$WEBDIR"; };
CONF
	for d in queued exportd convertwatch importd; do
		start_daemon "$HS_BINDIR/$d"
	done
	web_start_apid
	# the page as an operator opens it
	PAGE=http://127.0.0.1:$APIPORT/
	# kept after the run (bats removes its own temp dirs)
	SHOTS=${DASHBOARD_SHOTS:-$HS_TESTDIR/dashboard}
	mkdir -p "$SHOTS"
}

teardown() {
	drop_submitters
	hs_teardown
}

# web_start_apid [USER]: apid (as USER) on 127.0.0.1:$APIPORT (a free port below the
# ephemeral range: a client's port cannot take it), its log in
# $T/apid.log, up when /health answers
web_start_apid() {
	APIPORT=$((12000 + RANDOM % 20000))
	while [ -n "$(ss -Htln "sport = :$APIPORT")" ]; do
		APIPORT=$((12000 + RANDOM % 20000))
	done
	if [ -n "${1:-}" ]; then
		# setpriv execs apid: $! is apid's pid
		setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups -- \
		    "$HS_BINDIR/apid" -c "$T/conf" -l "127.0.0.1:$APIPORT" \
		    2>>"$T/apid.log" &
		PIDS+=($!)
		LASTPID=$!
	else
		start_daemon "$HS_BINDIR/apid" -l "127.0.0.1:$APIPORT"
	fi
	APID=$LASTPID
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$APIPORT/health" ||
	    { cat "$T/apid.log"; false; }
}

@test "dashboard: wrong token refused; sign in, submit, row reaches imported live, job page and log; markup in a name is text" {
	echo "# screenshots: $SHOTS" >&3
	rm -f "$SHOTS"/*.png
	run node "$NPMDIR/drive.js" walk "$PAGE" "$TOKEN" \
	    "$T/src/hs-sample.ova" "$SHOTS"
	echo "$output"
	if [ "$status" -ne 0 ]; then
		tail -n 20 "$T"/*.log
		false
	fi
	for s in wrong-token signed-in submitted imported job-log markup-name retry vsphere-form; do
		grep -q "^ok $s " <<<"$output"
		[ -s "$(ls "$SHOTS"/*-"$s".png)" ]
	done
	# the job the form sent really ran: one imported job of that name
	n=0
	for f in "$SP"/imported/*; do
		[ "$(jq -r .name "$f")" = dash-web01 ] || continue
		n=$((n + 1))
		grep -q ' imported ' "$SP/data/$(basename "$f")/history"
	done
	[ "$n" -eq 1 ]
	# the vSphere form made the job it shows: its source as typed
	f=$(grep -l '"dash-vs01"' "$SP"/*/* | head -n 1)
	[ "$(jq -c '.source | {type, server, vm, credential}' "$f")" = \
	    '{"type":"vsphere","server":"vc.example.com","vm":"web02","credential":"lab"}' ]
}

@test "dashboard: an http job's progress and rate move live (an ETA where the total is known); its Cancel button stops it with the reason" {
	# apid as its unit runs it: an unprivileged member of the submitters'
	# group, who may not move jobs; its Cancel asks queued (control/),
	# which cancels the job for its submitter, apid's user
	kill "$APID"
	wait "$APID" 2>/dev/null || true
	submitters
	chown "$VIC" "$T/tokens"
	chmod 0644 "$T/conf"
	web_start_apid "$VIC"
	PAGE=http://127.0.0.1:$APIPORT/
	mkdir -p "$T/www"
	head -c 40000000 /dev/urandom >"$T/www/slow.raw"
	start_nginx "$T/www" "limit_rate 2m;"
	# the events themselves, to show on a failure
	curl -sN -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$APIPORT/events" >"$T/events.txt" &
	PIDS+=($!)
	run node "$NPMDIR/drive.js" progress "$PAGE" "$TOKEN" \
	    "http://127.0.0.1:$PORT/slow.raw" "$SHOTS"
	echo "$output"
	if [ "$status" -ne 0 ]; then
		grep progress "$T/events.txt" | head -n 5
		tail -n 20 "$T"/*.log
		false
	fi
	grep -q '^ok progress ' <<<"$output"
	grep -q '^ok cancelled ' <<<"$output"
	# cancelled for real: in error/ with that reason, the download stopped
	# long before its 20 s at 2 MB/s
	f=$(grep -l '"dash-slow01"' "$SP"/error/*)
	grep -q cancelled "$SP/data/$(basename "$f")/reason"
	# by queued, for apid's user, the job's submitter
	grep -q "cancel requested by $VIC (uid $(id -u "$VIC"))" "$SP/data/$(basename "$f")/history"
}

@test "dashboard: apid restarted under the page: it reconnects by itself and shows what happened meanwhile" {
	rm -f "$SHOTS/signed-in"
	node "$NPMDIR/drive.js" reconnect "$PAGE" "$TOKEN" \
	    dash-offline "$SHOTS" >"$T/drive.out" 2>&1 &
	DRIVE=$!
	PIDS+=("$DRIVE")
	wait_for 30 test -e "$SHOTS/signed-in" || { cat "$T/drive.out"; false; }
	kill "$APID"
	wait "$APID" || true
	# while apid is down, a job goes through the pipeline
	drop offline "{\"name\":\"dash-offline\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\"}}"
	wait_for 60 eval 'grep -l "\"dash-offline\"" "$SP"/imported/* >/dev/null 2>&1'
	start_daemon "$HS_BINDIR/apid" -l "127.0.0.1:$APIPORT"
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$APIPORT/health" ||
	    { cat "$T/apid.log"; false; }
	status=0
	wait "$DRIVE" || status=$?
	cat "$T/drive.out"
	[ "$status" -eq 0 ]
	grep -q '^ok reconnecting ' "$T/drive.out"
	grep -q '^ok reconnected ' "$T/drive.out"
}

@test "dashboard: apid serves web/ at / with the files' types" {
	curl -sf -o /dev/null -w '%{content_type}\n' "http://127.0.0.1:$APIPORT/" | grep -q '^text/html'
	curl -sf -o /dev/null -w '%{content_type}\n' "http://127.0.0.1:$APIPORT/app.js" | grep -q javascript
	curl -sf -o /dev/null -w '%{content_type}\n' "http://127.0.0.1:$APIPORT/style.css" | grep -q '^text/css'
}

@test "dashboard: web/ uses no HTML sinks and nothing from outside" {
	# job data goes in as text: none of the sinks that parse markup
	run grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function' \
	    "$WEBDIR/app.js"
	[ "$status" -eq 1 ]
	# nothing fetched from elsewhere
	run grep -nE '(src|href)="(https?:)?//|@import|url\(' "$WEBDIR"/*.html "$WEBDIR"/*.css
	[ "$status" -eq 1 ]
	run grep -nE "https?://" "$WEBDIR/app.js"
	[ "$status" -eq 1 ]
	# no inline script, handler or style: the page works under a
	# Content-Security-Policy of default-src 'self'
	run grep -nE '<script>|<script [^>]*>[^<]|\son[a-z]+=|style="' "$WEBDIR/index.html"
	[ "$status" -eq 1 ]
	# the token never goes into a URL or a persistent store
	run grep -nE 'localStorage|[?&]token=' "$WEBDIR/app.js"
	[ "$status" -eq 1 ]
}
