#!/usr/bin/env bats
# apid, the HTTP API: every route with curl against a real apid on a free
# loopback port over a real spool with the real daemons; the seed's own
# example requests (HyperSDK's hypervisord docs); tokens and roles;
# malformed, oversized, slow and unknown requests; SSE and WebSocket
# events as jobs move; a SIGKILL in the middle of a submit; the tokens
# file's mode; apid as an unprivileged user.

load helpers

APID=$HS_BINDIR/apid
EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
IMPORTD=$HS_BINDIR/importd
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
WSCLIENT=$BATS_TEST_DIRNAME/../apid/wsclient.py

RTOK=read-0123456789abcdef
STOK=submit-0123456789abcdef
ATOK=admin-0123456789abcdef

setup() {
	hs_setup
	free_port
	printf '# roles\nread %s viewer\nsubmit %s robot\nadmin %s ops\n' \
	    "$RTOK" "$STOK" "$ATOK" >"$T/tokens"
	chmod 600 "$T/tokens"
	cat >>"$T/conf" <<-CONF
	api = { listen = "127.0.0.1:1"; tokens_file = "$T/tokens";
	        timeout = 2; submit_timeout = 20; max_body = 65536; max_jobs = 50; };
	CONF
}

teardown() {
	drop_submitters
	hs_teardown
}

# free_port: a loopback port nobody listens on, into APORT and URL
free_port() {
	APORT=$((20000 + RANDOM % 20000))
	while [ -n "$(ss -Htln "sport = :$APORT")" ]; do
		APORT=$((20000 + RANDOM % 20000))
	done
	URL=${SCHEME:-http}://127.0.0.1:$APORT
}

# start_apid [USER]: apid in the background (as USER), listening; another
# port when the one picked was taken meanwhile (other suites run too)
start_apid() {
	local try
	for try in 1 2 3 4 5; do
		if [ -n "${1:-}" ]; then
			# setpriv execs apid: $! is apid's pid, for teardown's kill
			setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups -- \
			    "$APID" -c "$T/conf" -l "127.0.0.1:$APORT" 2>>"$T/apid.log" 3>&- &
		else
			"$APID" -c "$T/conf" -l "127.0.0.1:$APORT" 2>>"$T/apid.log" 3>&- &
		fi
		APIDPID=$!
		PIDS+=($!)
		wait_for 5 curl -sf ${CACERT:+--cacert "$CACERT"} -o /dev/null "$URL/health" && return 0
		kill -0 "$APIDPID" 2>/dev/null && break
		grep -q 'cannot listen' "$T/apid.log" || break
		free_port
	done
	cat "$T/apid.log"
	false
}

# api TOKEN METHOD PATH [CURL-ARGS...]: the status code; the body in $T/body
api() {
	local tok=$1 m=$2 p=$3
	shift 3
	curl -s -o "$T/body" -w '%{http_code}' -X "$m" \
	    ${tok:+-H "Authorization: Bearer $tok"} "$@" "$URL$p"
}

# at_least STAGE N: N or more entries in STAGE (for wait_for)
at_least() {
	[ "$(count_in "$1")" -ge "$2" ]
}

# seen N PATTERN FILE: N lines matching PATTERN in FILE (for wait_for)
seen() {
	[ "$(grep -c -- "$2" "$3")" -eq "$1" ]
}

# clients_are N: apid counts N event clients (for wait_for)
clients_are() {
	curl -s -H "Authorization: Bearer $RTOK" "$URL/metrics" |
	    grep -qx "apid_event_clients $1"
}

# a job v1 from the sample OVA, named $1
ova_job() {
	printf '{"name":"%s","source":{"type":"file","path":"%s/src/hs-sample.ova"}}' \
	    "$1" "$T"
}

@test "/health needs no token; every other route says 401 without one or with an unknown one, 403 to a role too low" {
	start_apid
	[ "$(api "" GET /health)" = 200 ]
	jq -e '.status == "healthy"' "$T/body"
	for r in "GET /status" "POST /jobs/submit" "GET /jobs/query?all=true" \
	    "POST /jobs/query" "GET /jobs/20261206T000000-000000-00000000-00000000-00000000" \
	    "GET /jobs/progress/x" "GET /jobs/eta/x" "GET /jobs/logs/x" \
	    "POST /jobs/cancel" "POST /jobs/retry" "GET /events" "GET /ws" \
	    "GET /metrics"; do
		set -- $r
		[ "$(api "" "$1" "$2")" = 401 ] || { echo "$r without a token"; false; }
		[ "$(api nosuchtoken-0123456789 "$1" "$2")" = 401 ] || { echo "$r"; false; }
		jq -e '.error | test("bearer token")' "$T/body"
	done
	[ "$(api "$RTOK" POST /jobs/submit -d '{}')" = 403 ]
	jq -e '.error == "this needs the submit role; the token has read"' "$T/body"
	[ "$(api "$STOK" POST /jobs/cancel -d '{}')" = 403 ]
	[ "$(api "$STOK" POST /jobs/retry -d '{}')" = 403 ]
	# no CORS header by default
	! curl -s -i -H "Origin: http://evil.example" "$URL/health" | grep -qi '^access-control'
}

@test "a tokens file of mode 0644 (or not apid's own) is refused at start, saying why" {
	chmod 644 "$T/tokens"
	run "$APID" -c "$T/conf"
	[ "$status" -eq 100 ]
	[[ "$output" == *"mode 0644"*"0600 or stricter"*"chmod 600"* ]]
	[[ "$output" != *"$RTOK"* ]]
	chmod 600 "$T/tokens"
	submitters
	run as_user "$VIC" "$APID" -c "$T/conf"
	[ "$status" -eq 100 ]
	[[ "$output" == *"owned by apid's user"* || "$output" == *"Permission denied"* ]]
}

@test "submit through apid: the job reaches imported on test:///default; SSE sees each stage; the routes report it" {
	"$SAMPLE/mkova" "$T/src" >/dev/null
	mkdir -p "$T/out"
	cat >>"$T/conf" <<-CONF
	convert = { output_dir = "$T/out"; };
	defaults = { import = { uri = "test:///default"; start = false; }; };
	CONF
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	start_daemon "$CONVERTWATCH"
	start_daemon "$IMPORTD"
	start_apid
	curl -sN -H "Authorization: Bearer $RTOK" "$URL/events" >"$T/sse" &
	PIDS+=($!)
	wait_for 5 grep -q 'hyperspool apid events' "$T/sse"
	[ "$(api "$STOK" POST /jobs/submit -H 'Content-Type: application/json' \
	    -d "$(ova_job web01)")" = 200 ] || { cat "$T/body"; false; }
	jq -e '.accepted == 1 and .rejected == 0 and (.job_ids | length) == 1
	    and .errors == [] and .job_id == .job_ids[0]' "$T/body"
	id=$(jq -r .job_id "$T/body")
	wait_for 60 test -f "$SP/imported/$id" || { cat "$T"/*.log "$SP/data/$id/reason"; false; }
	wait_for 10 grep -q "\"stage\":\"imported\"" "$T/sse"
	# every stage, in pipeline order, each once
	stages=$(sed -n 's/^data: //p' "$T/sse" | jq -r --arg id "$id" \
	    'select(.id == $id and .type == "stage") | .stage' | tr '\n' ' ')
	[ "$stages" = "intake request exporting exported converting converted importing imported " ]
	# the SSE framing: event, a counting id, the data
	grep -q '^event: job$' "$T/sse"
	grep -q '^id: 1$' "$T/sse"
	sed -n 's/^data: //p' "$T/sse" | jq -e -s --arg id "$id" 'map(select(.id == $id))
	    | all(has("type") and has("name") and has("stage") and has("time_ms")
	          and has("progress") and has("retry") and has("reason"))
	    and all(.name == "web01")' || { cat "$T/sse"; false; }
	# the routes over the spool
	[ "$(api "$RTOK" GET "/jobs/$id")" = 200 ]
	jq -e --arg id "$id" '.id == $id and .stage == "imported" and .job.name == "web01"
	    and (.history | length) == 8 and .reason == null' "$T/body"
	[ "$(api "$RTOK" GET "/jobs/query?all=true")" = 200 ]
	jq -e --arg id "$id" '.total == 1 and .jobs[0].id == $id and .jobs[0].stage == "imported"' "$T/body"
	[ "$(api "$RTOK" POST /jobs/query -d "{\"job_ids\":[\"$id\",\"nope\"]}")" = 200 ]
	jq -e --arg id "$id" '.total == 1 and .not_found == ["nope"]' "$T/body"
	[ "$(api "$RTOK" GET "/jobs/query?job_id=$id")" = 200 ]
	[ "$(api "$RTOK" GET "/jobs/progress/$id")" = 200 ]
	jq -e '.percentage == 100 and .stage == "imported"' "$T/body"
	[ "$(api "$RTOK" GET "/jobs/eta/$id")" = 200 ]
	jq -e 'has("eta_s") and has("rate_bps")' "$T/body"
	[ "$(api "$RTOK" GET "/jobs/logs/$id")" = 200 ]
	cmp "$T/body" "$SP/data/$id/log"
	# follow on a finished job: the whole log, then the end
	[ "$(api "$RTOK" GET "/jobs/logs/$id?follow=1" --max-time 20)" = 200 ]
	cmp "$T/body" "$SP/data/$id/log"
	[ "$(api "$RTOK" GET /status)" = 200 ]
	jq -e '.stages.imported == 1 and .version != null and .uptime_s >= 0
	    and (.daemons | map(select(.daemon == "queued")) | .[0].alive)' "$T/body"
	[ "$(api "$RTOK" GET /metrics)" = 200 ]
	grep -qx 'hyperspool_jobs{stage="imported"} 1' "$T/body"
	grep -qx 'hyperspool_jobs_finished{outcome="imported"} 1' "$T/body"
	grep -q '^hyperspool_stage_seconds_count{stage="converting"} 1$' "$T/body"
	[ "$(api "$RTOK" GET /jobs/nope)" = 400 ]
	[ "$(api "$RTOK" GET /jobs/20261206T000000-000000-00000000-00000000-00000000)" = 404 ]
}

@test "submit: a list, {\"jobs\": [...]} and YAML; queued's refusal comes back with its reason" {
	start_daemon "$QUEUED"
	start_apid
	[ "$(api "$STOK" POST /jobs/submit -H 'Content-Type: application/json' \
	    -d "[$(ova_job a1), {\"name\":\"bad\"}, 7]")" = 207 ] || { cat "$T/body"; false; }
	jq -e '.accepted == 1 and .rejected == 2 and (.job_ids | length) == 1
	    and (.errors | length) == 2 and (.errors[0] | test("source: missing"))
	    and .errors[1] == "job 2: not an object"
	    and .jobs[1].status == "rejected" and (.jobs[1].job_id | length) == 49
	    and .jobs[2].job_id == null' "$T/body"
	[ -f "$SP/request/$(jq -r '.job_ids[0]' "$T/body")" ]
	[ -f "$SP/error/$(jq -r '.jobs[1].job_id' "$T/body")" ]
	[ "$(api "$STOK" POST /jobs/submit -d "{\"jobs\":[$(ova_job a2),$(ova_job a3)]}")" = 200 ]
	jq -e '.accepted == 2 and (.job_ids | length) == 2' "$T/body"
	printf 'jobs:\n  - name: y1\n    source: {type: file, path: "%s/src/y1.ova"}\n    import: {start: false}\n' \
	    "$T" >"$T/job.yaml"
	[ "$(api "$STOK" POST /jobs/submit -H 'Content-Type: application/yaml' \
	    --data-binary "@$T/job.yaml")" = 200 ] || { cat "$T/body"; false; }
	id=$(jq -r '.job_ids[0]' "$T/body")
	jq -e '.name == "y1" and .import.start == false' "$SP/request/$id"
	[ "$(api "$STOK" POST /jobs/submit -d '{"name":"bad"}')" = 422 ]
	jq -e '.accepted == 0 and (.errors[0] | test("source: missing"))' "$T/body"
}

@test "the seed's example requests: health, its three job bodies, query/progress/logs by job_id" {
	start_daemon "$QUEUED"
	start_apid
	# curl http://localhost:8080/health -> {"status": "healthy"}
	[ "$(curl -s "$URL/health" | jq -r .status)" = healthy ]
	# /jobs/submit with vm_identifier/provider/hyper2kvm_integration: the
	# dialect has no vCenter server, so queued refuses it, and says so
	[ "$(api "$STOK" POST /jobs/submit -H "Content-Type: application/json" -d '{
	    "vm_identifier": "test-vm",
	    "provider": "vsphere",
	    "export_method": "ova",
	    "export_path": "/exports/test-vm",
	    "hyper2kvm_integration": {
	      "enabled": true,
	      "daemon_mode": true
	    }
	  }')" = 422 ]
	jq -e '.errors == ["rejected: source.server: missing"]' "$T/body"
	[ "$(api "$STOK" POST /jobs/submit -d '{
	  "vm_identifier": "vm-123",
	  "provider": "vsphere",
	  "hyper2kvm_integration": {"enabled": true}
	}')" = 422 ]
	jq -e '.errors == ["rejected: source.server: missing"]' "$T/body"
	# the web API's job definition (vm_path): a vSphere VM, same refusal
	[ "$(api "$STOK" POST /jobs/submit -H "Content-Type: application/json" -d '{
	  "name": "Ubuntu Server Migration",
	  "vm_path": "/DC1/vm/ubuntu-server",
	  "output_dir": "/tmp/export",
	  "format": "ova",
	  "options": {
	    "enable_pipeline": true,
	    "hyper2kvm_daemon": true,
	    "hyper2kvm_instance": "vsphere-prod",
	    "hyper2kvm_watch_dir": "/var/lib/hyper2kvm/vsphere-queue",
	    "hyper2kvm_output_dir": "/var/lib/hyper2kvm/vsphere-output",
	    "libvirt_integration": true
	  }
	}')" = 422 ]
	jq -e '.errors == ["rejected: source.server: missing"]' "$T/body"
	# the same dialect with a provider we have is accepted
	[ "$(api "$STOK" POST /jobs/submit -d "{\"vm_identifier\": \"$T/src/web01.ova\",
	    \"provider\": \"file\", \"hyper2kvm_integration\": {\"enabled\": true}}")" = 200 ]
	id=$(jq -r .job_id "$T/body")
	jq -e '.name == "web01" and .origin.dialect == "hypersdk-submit"' "$SP/request/$id"
	# curl /jobs/query?job_id=X, /jobs/progress/X, /jobs/logs/X
	[ "$(api "$RTOK" GET "/jobs/query?job_id=$id")" = 200 ]
	jq -e --arg id "$id" '.jobs[0].id == $id and .jobs[0].stage == "request"' "$T/body"
	[ "$(api "$RTOK" GET "/jobs/progress/$id")" = 200 ]
	jq -e 'has("percentage") and has("bytes_transferred")' "$T/body"
	[ "$(api "$RTOK" GET "/jobs/logs/$id")" = 200 ]
}

@test "malformed JSON and YAML are 400, oversized 413, unknown routes 404, a wrong method 405; each with nothing else" {
	start_daemon "$QUEUED"
	start_apid
	[ "$(api "$STOK" POST /jobs/submit -d '{"name": ')" = 400 ]
	jq -e '.error | test("not valid JSON")' "$T/body"
	[ "$(api "$STOK" POST /jobs/submit -d '{"a":1} x')" = 400 ]
	[ "$(api "$STOK" POST /jobs/submit -H 'Content-Type: application/yaml' \
	    --data-binary $'name: [unclosed\n')" = 400 ]
	jq -e '.error | test("not valid YAML")' "$T/body"
	# a billion laughs is bounded
	python3 -c '
print("a: &a [x, x, x, x, x, x, x, x, x, x]")
for i in range(1, 9):
    print(f"{chr(97+i)}: &{chr(97+i)} [" + ", ".join(["*" + chr(96+i)] * 10) + "]")' >"$T/laughs.yaml"
	[ "$(api "$STOK" POST /jobs/submit -H 'Content-Type: application/yaml' \
	    --data-binary "@$T/laughs.yaml")" = 400 ]
	jq -e '.error | test("too large")' "$T/body"
	[ "$(api "$STOK" POST /jobs/submit -d '[]')" = 400 ]
	head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
	[ "$(api "$STOK" POST /jobs/submit --data-binary "@$T/big")" = 413 ]
	# without a Content-Length (chunked): counted as it comes
	[ "$(api "$STOK" POST /jobs/submit -H 'Transfer-Encoding: chunked' \
	    --data-binary "@$T/big")" = 413 ]
	python3 -c 'import json; print(json.dumps([{"name": "j%d" % i} for i in range(51)]))' >"$T/many"
	[ "$(api "$STOK" POST /jobs/submit --data-binary "@$T/many")" = 413 ]
	jq -e '.error | test("api.max_jobs")' "$T/body"
	[ "$(count_in incoming)" -eq 0 ]
	[ "$(count_in intake)" -eq 0 ]
	[ "$(count_in error)" -eq 0 ]
	[ "$(api "$RTOK" GET /nope)" = 404 ]
	[ "$(api "$RTOK" GET /jobs/a/b)" = 404 ]
	[ "$(api "" GET /nope)" = 404 ]
	[ "$(api "$RTOK" DELETE /status)" = 405 ]
	[ "$(api "$STOK" GET /jobs/submit)" = 405 ]
}

@test "slowloris: a request sent slowly is cut off by api.timeout while others are served" {
	start_apid
	# half a request line and headers, then silence
	exec 5<>/dev/tcp/127.0.0.1/$APORT
	printf 'GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bear' >&5
	# others are served meanwhile
	[ "$(api "$RTOK" GET /status)" = 200 ]
	[ "$(api "" GET /health)" = 200 ]
	# apid closes it (api.timeout = 2 s); the read ends with EOF, no answer
	run timeout 30 cat <&5
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	exec 5>&-
	[ "$(api "" GET /health)" = 200 ]
}

@test "WebSocket: the handshake, a ping answered, stage events as text frames, a close" {
	start_daemon "$QUEUED"
	start_apid
	python3 "$WSCLIENT" "$APORT" "$RTOK" /ws '"stage":"request"' >"$T/ws" 2>"$T/ws.err" &
	ws=$!
	wait_for 10 grep -qx pong "$T/ws" || { cat "$T/ws.err"; false; }
	[ "$(api "$STOK" POST /jobs/submit -d "$(ova_job w1)")" = 200 ]
	id=$(jq -r .job_id "$T/body")
	wait "$ws" || { cat "$T/ws.err"; false; }
	grep '^{' "$T/ws" | jq -e -s --arg id "$id" 'map(select(.id == $id) | .stage)
	    == ["intake", "request"]'
	tail -n 1 "$T/ws" | grep -qx closed
	# /websocket (the seed's path) answers the same way; a plain GET is 400
	python3 "$WSCLIENT" "$APORT" "$RTOK" "/websocket?id=$id" x 0 >/dev/null
	[ "$(api "$RTOK" GET /ws)" = 400 ]
	# without a token: no upgrade
	run python3 "$WSCLIENT" "$APORT" wrong-token-0123456789 /ws x
	[ "$status" -ne 0 ]
	[[ "$output" == *"401"* ]]
}

@test "a client that stops reading is dropped; the others see every event" {
	sed -i 's/max_jobs = 50;/max_jobs = 50; client_queue = 100;/' "$T/conf"
	start_daemon "$QUEUED"
	start_apid
	# a reader that never reads, with a tiny receive buffer
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % sys.argv[2]).encode())
time.sleep(600)' "$APORT" "$RTOK" &
	PIDS+=($!)
	curl -sN -H "Authorization: Bearer $RTOK" "$URL/events" >"$T/sse" &
	PIDS+=($!)
	wait_for 5 grep -q 'hyperspool apid events' "$T/sse"
	python3 -c 'import json,sys; print(json.dumps([{"name": "j%d" % i, "source": {"type": "file", "path": sys.argv[1] + "/src/%d.ova" % i}} for i in range(50)]))' "$T" >"$T/many"
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(api "$STOK" POST /jobs/submit --data-binary "@$T/many")" = 200 ] || { cat "$T/body"; false; }
	done
	wait_for 20 seen 400 '"stage":"request"' "$T/sse"
	[ "$(api "$RTOK" GET /metrics)" = 200 ]
	grep -qx 'apid_event_clients_dropped_total 1' "$T/body" || { cat "$T/body"; false; }
	# and it is gone, the other still there
	wait_for 10 clients_are 1
}

@test "apid SIGKILLed in the middle of a submit: no job lost, none twice" {
	start_daemon "$QUEUED"
	start_apid
	python3 -c 'import json,sys; print(json.dumps({"jobs": [{"name": "k%02d" % i, "source": {"type": "file", "path": sys.argv[1] + "/src/k.ova"}} for i in range(50)]}))' "$T" >"$T/many"
	api "$STOK" POST /jobs/submit --data-binary "@$T/many" >/dev/null &
	cpid=$!
	# once queued has taken some of them
	wait_for 20 at_least request 1
	kill -9 "$APIDPID"
	wait "$cpid" || true
	# what apid had put into incoming/ becomes a job, exactly once
	wait_for 20 has_n incoming 0
	wait_for 20 has_n intake 0
	n=$(count_in request)
	[ "$n" -ge 1 ]
	names=$(cat "$SP"/request/* | jq -r .name | sort)
	[ "$(uniq <<<"$names" | wc -l)" -eq "$n" ]
	# every job file apid wrote under incoming/ was taken: one history each
	[ "$(grep -h ' from incoming/submit-' "$SP"/data/*/history | wc -l)" -eq "$n" ]
	# a fresh apid sees the same
	start_apid
	[ "$(api "$RTOK" GET '/jobs/query?all=true')" = 200 ]
	jq -e --argjson n "$n" '.total == $n' "$T/body"
}

@test "cancel and retry go through hyperspool cancel/retry; admin only" {
	start_daemon "$QUEUED"
	start_apid
	[ "$(api "$STOK" POST /jobs/submit -d "$(ova_job c1)")" = 200 ]
	id=$(jq -r .job_id "$T/body")
	[ "$(api "$ATOK" POST /jobs/cancel -d "{\"job_id\":\"$id\"}")" = 200 ]
	jq -e --arg id "$id" '.results == [{"job_id": $id, "message": ($id + ": cancelled"), "ok": true}]' "$T/body"
	[ -f "$SP/error/$id" ]
	grep -q 'cancelled by' "$SP/data/$id/reason"
	[ "$(api "$ATOK" POST /jobs/retry -d "{\"job_ids\":[\"$id\"]}")" = 200 ]
	[ -f "$SP/request/$id" ]
	# a second retry: not failed any more, refused with the CLI's reason
	[ "$(api "$ATOK" POST /jobs/retry -d "{\"job_id\":\"$id\"}")" = 409 ]
	jq -e '.results[0].ok == false and (.results[0].message | test("not failed"))' "$T/body"
	[ "$(api "$ATOK" POST /jobs/cancel -d '{"job_id":"../../etc"}')" = 409 ]
	jq -e '.results[0].message == "not a job ID"' "$T/body"
	[ "$(api "$ATOK" POST /jobs/cancel -d '{}')" = 400 ]
}

@test "no token in apid's log or in any answer" {
	start_daemon "$QUEUED"
	start_apid
	for t in "$RTOK" "$STOK" "$ATOK" wrong-token-0123456789; do
		api "$t" GET /status >/dev/null
		api "$t" POST /jobs/submit -d "$(ova_job t1)" >/dev/null
		! grep -qF -- "$t" "$T/body"
		api "$t" POST /jobs/cancel -d '{"job_id":"x"}' >/dev/null
		! grep -qF -- "$t" "$T/body"
		curl -s --max-time 1 "$URL/events?access_token=$t" >/dev/null || true
	done
	grep -q 'robot' "$T/apid.log"
	for t in "$RTOK" "$STOK" "$ATOK" wrong-token-0123456789; do
		! grep -qF -- "$t" "$T/apid.log"
		! grep -rqF -- "$t" "$SP"
	done
}

@test "apid as an unprivileged user: submits with its own uid; a job cannot name a file apid's user cannot read" {
	submitters
	chown "$VIC" "$T/tokens"
	"$SAMPLE/mkova" "$T/src" >/dev/null
	chmod 0644 "$T/src"/*
	cp "$T/src/hs-sample.ova" "$T/src/eve.ova"
	chown "$EVE" "$T/src/eve.ova"
	chmod 0600 "$T/src/eve.ova"
	chmod 0644 "$T/conf"
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	start_apid "$VIC"
	[ "$(api "$STOK" POST /jobs/submit -d "$(ova_job mine)")" = 200 ]
	ok=$(jq -r .job_id "$T/body")
	[ "$(api "$RTOK" GET "/jobs/$ok")" = 200 ]
	jq -e --arg u "$(id -u "$VIC")" '.job.origin.uid == ($u | tonumber)' "$T/body"
	[ "$(api "$STOK" POST /jobs/submit -d \
	    "{\"name\":\"eves\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve.ova\"}}")" = 200 ]
	bad=$(jq -r .job_id "$T/body")
	wait_for 30 test -f "$SP/error/$bad" || { cat "$T"/*.log; false; }
	grep -q 'cannot be read' "$SP/data/$bad/reason" || grep -qi 'read' "$SP/data/$bad/reason"
	wait_for 30 test -f "$SP/exported/$ok" -o -f "$SP/converting/$ok" || { cat "$SP/data/$ok/reason"; false; }
}

# apid's unit runs it as the unprivileged hyperspool-api user, who may not
# move jobs: its hyperspool cancel/retry ask queued (control/), which does
# them for a user of queued.control_users; for anybody else's job, not.
@test "apid as an unprivileged user: cancel and retry go through queued when its user is in queued.control_users" {
	submitters
	chown "$VIC" "$T/tokens"
	chmod 0644 "$T/conf"
	start_daemon "$QUEUED"
	# a job of root's: not apid's user's own
	id=$(printf '{"name":"rootjob","source":{"type":"file","path":"%s/src/x.ova"}}' "$T" |
	    "$HS" -c "$T/conf" submit - | tail -n 1)
	wait_for 10 test -f "$SP/request/$id"
	start_apid "$VIC"
	[ "$(api "$ATOK" POST /jobs/cancel -d "{\"job_id\":\"$id\"}")" = 409 ]
	jq -e '.results[0].ok == false and (.results[0].message | test("not your job"))' "$T/body"
	[ -f "$SP/request/$id" ]
	# the operator lists apid's user (its unit's user in a deployment)
	printf 'queued = { control_users = [ "%s" ]; };\n' "$VIC" >>"$T/conf"
	kill "$LASTPID"
	wait "$LASTPID" 2>/dev/null || true
	start_daemon "$QUEUED"
	[ "$(api "$ATOK" POST /jobs/cancel -d "{\"job_id\":\"$id\"}")" = 200 ]
	jq -e --arg id "$id" '.results == [{"job_id": $id, "message": ($id + ": cancelled"), "ok": true}]' "$T/body"
	[ -f "$SP/error/$id" ]
	[ "$(cat "$SP/data/$id/reason")" = "cancelled by $VIC (uid $(id -u "$VIC"))" ]
	[ "$(api "$ATOK" POST /jobs/retry -d "{\"job_id\":\"$id\"}")" = 200 ]
	[ -f "$SP/request/$id" ]
}

@test "/openapi.json describes exactly the routes apid serves" {
	start_apid
	[ "$(api "" GET /openapi.json)" = 200 ]
	[ "$(jq -r '.paths | keys | sort | join(" ")' "$T/body")" = \
	    "/events /health /jobs/cancel /jobs/eta/{id} /jobs/logs/{id} /jobs/progress/{id} /jobs/query /jobs/retry /jobs/submit /jobs/{id} /metrics /openapi.json /status /websocket /ws" ]
	# and every one of them is routed (not 404)
	for p in $(jq -r '.paths | keys[]' "$T/body"); do
		p=${p/\{id\}/20261206T000000-000000-00000000-00000000-00000000}
		[ "$(api "$RTOK" GET "$p" --max-time 2)" != 404 ] || [[ "$p" == /jobs/2* || "$p" == /jobs/*/2* ]] || { echo "$p"; false; }
	done
}

@test "GET / serves api.web_root's files, without a token; nothing outside it, no dot-file, no symlink" {
	mkdir -p "$T/web/js"
	echo '<h1>dash</h1>' >"$T/web/index.html"
	echo 'let x = 1;' >"$T/web/js/app.js"
	echo secret >"$T/web/.hidden"
	ln -s "$T/tokens" "$T/web/tokens.txt"
	sed -i "s|max_jobs = 50;|max_jobs = 50; web_root = \"$T/web\";|" "$T/conf"
	start_apid
	[ "$(api "" GET /)" = 200 ]
	grep -q dash "$T/body"
	[ "$(curl -s -o /dev/null -w '%{content_type}' "$URL/index.html")" = "text/html; charset=utf-8" ]
	# / is the page itself, typed as such (a browser would download it else)
	[ "$(curl -s -o /dev/null -w '%{content_type}' "$URL/")" = "text/html; charset=utf-8" ]
	curl -sI "$URL/" | grep -qi "^content-security-policy: default-src 'self'; frame-ancestors 'none'"
	[ "$(api "" GET /js/app.js)" = 200 ]
	[ "$(curl -s -o /dev/null -w '%{content_type}' "$URL/js/app.js")" = "text/javascript; charset=utf-8" ]
	[ "$(api "" GET /.hidden)" = 404 ]
	[ "$(api "" GET /tokens.txt)" = 404 ]
	[ "$(curl -s -o "$T/body" -w '%{http_code}' --path-as-is "$URL/js/../../tokens")" = 404 ]
	! grep -q "$RTOK" "$T/body"
	[ "$(api "" POST /index.html)" = 404 ]
}

@test "with api.tls_cert and api.tls_key: HTTPS only, verified against its certificate" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" \
	    -out "$T/cert.pem" 2>/dev/null
	sed -i "s|max_jobs = 50;|max_jobs = 50; tls_cert = \"$T/cert.pem\"; tls_key = \"$T/key.pem\";|" "$T/conf"
	SCHEME=https CACERT=$T/cert.pem
	free_port
	start_apid
	[ "$(curl -s --cacert "$T/cert.pem" -o "$T/body" -w '%{http_code}' \
	    -H "Authorization: Bearer $RTOK" "https://127.0.0.1:$APORT/status")" = 200 ]
	# verification is on: without the CA curl refuses; plain HTTP gets nothing
	! curl -s -o /dev/null "https://127.0.0.1:$APORT/health"
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$APORT/health")" != 200 ]
	grep -q '(https)' "$T/apid.log"
	! grep -q 'PRIVATE' "$T/apid.log"
}

@test "events: ?id= keeps one job's events; ?access_token= stands for the header; a bad id is 400" {
	start_daemon "$QUEUED"
	start_apid
	[ "$(api "" GET "/events?access_token=wrong-token-0123456789")" = 401 ]
	[ "$(api "$RTOK" GET "/events?id=../x")" = 400 ]
	curl -sN "$URL/events?access_token=$RTOK" >"$T/all" &
	PIDS+=($!)
	wait_for 5 grep -q 'hyperspool apid events' "$T/all"
	[ "$(api "$STOK" POST /jobs/submit -d "$(ova_job f1)")" = 200 ]
	first=$(jq -r .job_id "$T/body")
	curl -sN "$URL/events?access_token=$RTOK&id=$first" >"$T/one" &
	PIDS+=($!)
	wait_for 5 grep -q 'hyperspool apid events' "$T/one"
	[ "$(api "$STOK" POST /jobs/submit -d "$(ova_job f2)")" = 200 ]
	second=$(jq -r .job_id "$T/body")
	[ "$(api "$ATOK" POST /jobs/cancel -d "{\"job_id\":\"$first\"}")" = 200 ]
	wait_for 10 grep -q "\"id\":\"$first\",\"name\":\"f1\",\"stage\":\"error\"" "$T/one"
	wait_for 10 grep -q "\"id\":\"$first\",\"name\":\"f1\",\"stage\":\"error\"" "$T/all"
	grep -q "\"id\":\"$second\"" "$T/all"
	! grep -q "\"id\":\"$second\"" "$T/one"
	# the error event carries the reason
	sed -n 's/^data: //p' "$T/one" | jq -e -s 'map(select(.stage == "error"))[0].reason | test("cancelled by")'
}

@test "logs ?follow=1 streams a job's log as it grows and ends when the job does" {
	start_daemon "$QUEUED"
	start_apid
	[ "$(api "$STOK" POST /jobs/submit -d "$(ova_job l1)")" = 200 ]
	id=$(jq -r .job_id "$T/body")
	curl -sN -H "Authorization: Bearer $RTOK" "$URL/jobs/logs/$id?follow=1" >"$T/follow" &
	fpid=$!
	PIDS+=($!)
	wait_for 10 grep -q 'accepted hyperspool-v1 job' "$T/follow"
	# still streaming: the job waits in request/
	kill -0 "$fpid"
	printf '%s %s\n' "$(date -u +%FT%TZ)" "operator note for the test" >>"$SP/data/$id/log"
	wait_for 10 grep -q 'operator note for the test' "$T/follow"
	[ "$(api "$ATOK" POST /jobs/cancel -d "{\"job_id\":\"$id\"}")" = 200 ]
	# the job has ended: so does the stream, with the whole log
	wait "$fpid"
	cmp "$T/follow" "$SP/data/$id/log"
}

@test "progress events: an http export slowed by nginx reports its bytes as they come" {
	mkdir -p "$T/www"
	head -c 16777216 /dev/urandom >"$T/www/disk.raw"
	# one connection at 4 MiB/s: about four seconds, a progress write each
	echo 'exportd = { http_segments = 1; };' >>"$T/conf"
	start_nginx "$T/www" "limit_rate 4m;"
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	start_apid
	curl -sN -H "Authorization: Bearer $RTOK" "$URL/events" >"$T/sse" &
	PIDS+=($!)
	wait_for 5 grep -q 'hyperspool apid events' "$T/sse"
	[ "$(api "$STOK" POST /jobs/submit -d "{\"name\":\"slow\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/disk.raw\"}}")" = 200 ]
	id=$(jq -r .job_id "$T/body")
	wait_for 60 test -f "$SP/exported/$id" || { cat "$T"/*.log "$SP/data/$id/reason"; false; }
	wait_for 10 grep -q '"stage":"exported"' "$T/sse"
	# bytes done between none and all, as exportd wrote them (once a second)
	sed -n 's/^data: //p' "$T/sse" | jq -e -s --arg id "$id" '
	    map(select(.id == $id and .type == "progress")) as $p
	    | ($p | length) >= 2
	    and ($p | all(.stage == "exporting" and .progress.phase == "exporting"))
	    and ($p | any(.progress.done > 0 and .progress.done < 16777216
	                  and .progress.rate_bps > 0))' || { grep data: "$T/sse"; false; }
	[ "$(api "$RTOK" GET /metrics)" = 200 ]
	grep -q '^hyperspool_bytes_moved_total{stage="exporting"} [1-9]' "$T/body"
}
