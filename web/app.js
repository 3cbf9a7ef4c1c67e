/* app.js - the hyperspool dashboard: plain JavaScript over apid's routes,
 * no framework, no build step, nothing fetched from anywhere but apid.
 *
 * The token typed at sign-in is kept in sessionStorage (gone with the tab)
 * and sent as "Authorization: Bearer"; it is never put in a URL. The job
 * table is filled from GET /jobs/query?all=true and then kept live by
 * GET /events read with fetch streaming (EventSource cannot send a header):
 * watch first, then list, and events that came during the listing are
 * applied on top of it, as the daemons do with inotify and a scan.
 *
 * Everything a job carries (its name above all: the submitter chose it) is
 * put into the page with textContent or as a text node, never parsed as
 * markup.
 *
 * Error policy: a failed request is shown where it was made (sign-in,
 * submit, action line, log state); 401 anywhere signs out with a message;
 * a dropped event stream is reconnected with a growing delay and the table
 * listed again, so nothing missed while it was down stays wrong. */
"use strict";

const TOKEN_KEY = "hyperspool-token";
const STAGE_ORDER = ["incoming", "intake", "request", "exporting", "exported",
	"converting", "converted", "importing", "imported", "error"];
const LOG_MAX = 200000;		/* characters of log kept in the page */

const jobs = new Map();		/* id -> {id, name, stage, progress, reason, retry, time_ms} */
let eventsAbort = null;
let logAbort = null;
let currentJob = null;
let statusTimer = null;
let statusPending = false;

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
	const e = document.createElement(tag);
	if (text !== undefined && text !== null) e.textContent = String(text);
	if (cls) e.className = cls;
	return e;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

class HttpError extends Error {
	constructor(status, msg) { super(msg); this.status = status; }
}

/* api(PATH, OPTS): fetch with the bearer token; JSON answer or HttpError */
async function api(path, opts = {}) {
	const headers = Object.assign({}, opts.headers || {});
	if (token()) headers["Authorization"] = "Bearer " + token();
	const res = await fetch(path, Object.assign({}, opts, { headers }));
	if (res.status === 401 && token()) {
		signOut("Signed out: the token was refused (401).");
	}
	if (!res.ok && !opts.raw) {
		let msg = res.status + " " + res.statusText;
		try {
			const body = await res.json();
			if (body && (body.error || body.message))
				msg += ": " + (body.error || body.message);
		} catch (e) { /* not JSON: the status says enough */ }
		throw new HttpError(res.status, msg);
	}
	if (opts.raw) return res;
	const type = res.headers.get("Content-Type") || "";
	return type.includes("json") ? res.json() : res.text();
}

/* ---------- formatting ---------- */

function fmtBytes(n) {
	if (n === null || n === undefined || isNaN(n)) return "";
	const u = ["B", "KiB", "MiB", "GiB", "TiB"];
	let i = 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return (i ? n.toFixed(1) : String(Math.round(n))) + " " + u[i];
}

function fmtRate(p) {
	return p && p.rate_bps ? fmtBytes(p.rate_bps) + "/s" : "";
}

function fmtEta(p) {
	if (!p || p.eta_s === null || p.eta_s === undefined || p.eta_s < 0) return "";
	let s = Math.round(p.eta_s);
	const h = Math.floor(s / 3600); s -= h * 3600;
	const m = Math.floor(s / 60); s -= m * 60;
	return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
}

function fmtProgress(p) {
	if (!p) return "";
	const what = p.phase ? p.phase + ": " : "";
	if (p.total > 0)
		return what + fmtBytes(p.done) + " of " + fmtBytes(p.total) +
		    " (" + Math.floor(100 * p.done / p.total) + " %)";
	return what + fmtBytes(p.done);
}

function progressBar(p) {
	const bar = document.createElement("progress");
	if (p && p.total > 0) {
		bar.max = p.total;
		bar.value = Math.min(p.done || 0, p.total);
	} else if (!p) {
		bar.max = 1;
		bar.value = 0;
	}	/* else: no total known, the bar is indeterminate */
	bar.title = fmtProgress(p);
	return bar;
}

/* retryText(R): a job waiting after a temporary failure, in a few words */
function retryText(r) {
	if (!r || typeof r !== "object") return r ? String(r) : "";
	let t = "retry";
	if (r.attempts) t += " after attempt " + r.attempts;
	if (r.reason) t += ": " + r.reason;
	return t;
}

function stageRank(stage) {
	const i = STAGE_ORDER.indexOf(stage);
	return i < 0 ? -1 : i;
}

/* ---------- the job table ---------- */

/* normProgress(P): progress as events give it ({phase, done, total,
 * rate_bps, eta_s}) from either that or progress.json's own shape
 * ({stage, bytes_done, bytes_total, rate, eta}: the listing, /jobs/{id}) */
function normProgress(p) {
	if (!p || typeof p !== "object") return null;
	if (p.done !== undefined || p.total !== undefined) return p;
	return {
		phase: p.stage || null,
		done: p.bytes_done || 0,
		total: p.bytes_total || 0,
		rate_bps: p.rate || 0,
		eta_s: p.eta !== undefined ? p.eta : null,
	};
}

/* normJob(OBJ): a job as the listing or /jobs/{id} gives it, in our shape */
function normJob(j) {
	return {
		id: j.id || j.job_id,
		name: j.name !== undefined && j.name !== null ? j.name :
		    (j.job && j.job.name) || "",
		stage: j.stage || j.status || "",
		progress: normProgress(j.progress),
		reason: j.reason || null,
		retry: j.retry || null,
		time_ms: j.time_ms || null,
	};
}

function listOf(body) {
	if (Array.isArray(body)) return body;
	if (body && Array.isArray(body.jobs)) return body.jobs;
	return [];
}

function actionButtons(job) {
	const span = el("span");
	const cancel = el("button", "Cancel");
	cancel.type = "button";
	cancel.className = "cancel";
	cancel.disabled = job.stage === "imported" || job.stage === "error";
	cancel.addEventListener("click", () => jobAction("cancel", job.id));
	const retry = el("button", "Retry");
	retry.type = "button";
	retry.className = "retry";
	retry.disabled = job.stage !== "error";
	retry.addEventListener("click", () => jobAction("retry", job.id));
	span.append(cancel, " ", retry);
	return span;
}

function renderRow(job) {
	let tr = document.querySelector('#jobs tbody tr[data-id="' + CSS.escape(job.id) + '"]');
	if (!tr) {
		tr = document.createElement("tr");
		tr.dataset.id = job.id;
		$("jobs").tBodies[0].prepend(tr);
	}
	tr.dataset.stage = job.stage;
	tr.replaceChildren();
	const name = el("td", null, "name");
	const a = el("a", job.name || "(no name)");
	a.href = "#/job/" + encodeURIComponent(job.id);
	name.append(a);
	const stage = el("td");
	stage.append(el("span", job.stage, "stage " + job.stage));
	const prog = el("td", null, "progress");
	if (job.progress) {
		const p = job.progress;
		prog.append(progressBar(p), " ", el("span", p.total > 0 ?
		    Math.floor(100 * (p.done || 0) / p.total) + " %" : fmtBytes(p.done), "done"));
	}
	tr.append(name, el("td", job.id, "id"), stage, prog,
	    el("td", fmtRate(job.progress), "rate"),
	    el("td", fmtEta(job.progress), "eta"),
	    el("td", job.reason || retryText(job.retry), "reason"));
	const act = el("td");
	act.append(actionButtons(job));
	tr.append(act);
	$("jobs-empty").hidden = jobs.size > 0;
}

function removeRow(id) {
	const tr = document.querySelector('#jobs tbody tr[data-id="' + CSS.escape(id) + '"]');
	if (tr) tr.remove();
	$("jobs-empty").hidden = jobs.size > 0;
}

function renderTable() {
	$("jobs").tBodies[0].replaceChildren();
	const all = [...jobs.values()].sort((a, b) => (a.time_ms || 0) - (b.time_ms || 0));
	for (const j of all) renderRow(j);
	$("jobs-empty").hidden = jobs.size > 0;
}

/* applyEvent(EV, CAREFUL): one event from /events; CAREFUL when it may be
 * older than what the listing gave (it arrived while listing) */
function applyEvent(ev, careful) {
	if (!ev || !ev.id) return;
	if (ev.type === "gone") {
		jobs.delete(ev.id);
		removeRow(ev.id);
		if (currentJob === ev.id) showJobFacts({ id: ev.id, stage: "gone" });
		return;
	}
	let job = jobs.get(ev.id);
	if (!job) {
		job = { id: ev.id, name: ev.name || "", stage: ev.stage || "", progress: null,
			reason: null, retry: null, time_ms: null };
		jobs.set(ev.id, job);
	}
	if (careful && job.time_ms && ev.time_ms && ev.time_ms < job.time_ms) return;
	if (careful && !(job.time_ms && ev.time_ms) && ev.type === "stage" &&
	    stageRank(ev.stage) < stageRank(job.stage)) return;
	if (ev.name !== undefined && ev.name !== null) job.name = ev.name;
	if (ev.time_ms) job.time_ms = ev.time_ms;
	if (ev.type === "stage") {
		const moved = job.stage !== ev.stage;
		job.stage = ev.stage;
		job.reason = ev.reason || null;
		job.retry = ev.retry || null;
		if (moved) job.progress = normProgress(ev.progress);
		scheduleStatus();
	} else if (ev.type === "progress") {
		if (ev.stage) job.stage = ev.stage;
		job.progress = normProgress(ev.progress);
	}
	renderRow(job);
	if (currentJob === ev.id) {
		showJobFacts(job);
		if (ev.type === "stage") loadJob(ev.id, false);
	}
}

async function loadJobs() {
	const body = await api("/jobs/query?all=true");
	jobs.clear();
	for (const raw of listOf(body)) {
		const j = normJob(raw);
		if (j.id) jobs.set(j.id, j);
	}
	renderTable();
}

/* ---------- live events: SSE over fetch ---------- */

/* readSSE(RESPONSE, ONEVENT): parse text/event-stream until it ends */
async function readSSE(res, onEvent) {
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	let buf = "", data = [], type = "message";
	for (;;) {
		const { value, done } = await reader.read();
		if (done) return;
		buf += dec.decode(value, { stream: true });
		let nl;
		while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
			/* a CR last may be half of a CRLF split across reads */
			if (nl === buf.length - 1 && buf[nl] === "\r") break;
			const line = buf.slice(0, nl);
			buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
			if (line === "") {
				if (data.length) onEvent(type, data.join("\n"));
				data = [];
				type = "message";
			} else if (line.startsWith(":")) {
				/* a comment: a keep-alive */
			} else {
				const c = line.indexOf(":");
				const field = c < 0 ? line : line.slice(0, c);
				let val = c < 0 ? "" : line.slice(c + 1);
				if (val.startsWith(" ")) val = val.slice(1);
				if (field === "data") data.push(val);
				else if (field === "event") type = val;
			}
		}
	}
}

function setConn(live, text) {
	$("conn").textContent = text;
	$("conn").classList.toggle("live", live);
}

async function runEvents() {
	let delay = 500;
	while (token()) {
		const ctl = new AbortController();
		eventsAbort = ctl;
		let pending = [];	/* events that came while listing */
		let listing = true;
		try {
			const res = await api("/events", { raw: true, signal: ctl.signal,
				headers: { "Accept": "text/event-stream" } });
			if (!res.ok) throw new HttpError(res.status, "events: " + res.status);
			const reading = readSSE(res, (type, data) => {
				if (type !== "job" && type !== "message") return;
				let ev;
				try { ev = JSON.parse(data); } catch (e) { return; }
				if (listing) pending.push(ev);
				else applyEvent(ev, false);
			});
			try {
				await loadJobs();
				listing = false;
				for (const ev of pending) applyEvent(ev, true);
				pending = [];
			} catch (e) {
				ctl.abort();
				throw e;
			}
			setConn(true, "live");
			delay = 500;
			await reading;
		} catch (e) {
			if (ctl.signal.aborted && !token()) return;
			if (e instanceof HttpError && e.status === 401) return;
		}
		if (!token()) return;
		setConn(false, "reconnecting");
		await new Promise(r => setTimeout(r, delay));
		delay = Math.min(delay * 2, 10000);
	}
}

/* ---------- status ---------- */

function scheduleStatus() {
	if (statusPending) return;
	statusPending = true;
	setTimeout(() => { statusPending = false; loadStatus(); }, 100);
}

async function loadStatus() {
	let st;
	try {
		st = await api("/status");
	} catch (e) {
		$("status-line").textContent = "status: " + e.message;
		return;
	}
	const daemons = $("daemons");
	daemons.replaceChildren();
	const ds = st.daemons || {};
	const list = Array.isArray(ds) ? ds : Object.keys(ds).map(k =>
		Object.assign({ name: k }, typeof ds[k] === "object" ? ds[k] : { alive: ds[k] }));
	for (const d of list) {
		const alive = d.alive === true || d.state === "alive" || d.up === true;
		let text = (d.name || d.daemon || "?") + (alive ? " up" : " down");
		const age = d.heartbeat_age_s !== undefined ? d.heartbeat_age_s : d.heartbeat_age;
		if (age !== undefined && age !== null) text += " (" + Math.round(age) + " s)";
		daemons.append(el("span", text, "daemon " + (alive ? "up" : "down")));
	}
	const stages = $("stages");
	stages.replaceChildren();
	const counts = st.stages || st.jobs || {};
	for (const s of STAGE_ORDER) {
		if (counts[s] === undefined) continue;
		const c = el("span", s + " " + counts[s], "count");
		c.dataset.stage = s;
		stages.append(c);
	}
	let line = "";
	if (st.version) line += "version " + st.version;
	if (st.uptime_s !== undefined) line += (line ? ", " : "") + "apid up " + Math.round(st.uptime_s) + " s";
	$("status-line").textContent = line;
}

/* ---------- actions and submit ---------- */

async function jobAction(kind, id) {
	const out = currentJob === id ? $("job-action") : $("submit-result");
	out.textContent = kind + " " + id + "...";
	try {
		/* 200 done, 409 refused: {"results": [...]} says why */
		const res = await api("/jobs/" + kind, {
			method: "POST", raw: true,
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ job_ids: [id] }),
		});
		let r;
		try { r = await res.json(); } catch (e) { r = null; }
		if (!(r && Array.isArray(r.results)))
			throw new HttpError(res.status, res.status + " " + res.statusText +
			    (r && r.error ? ": " + r.error : ""));
		out.textContent = kind + " " + id + ": " + summarize(r);
	} catch (e) {
		out.textContent = kind + " " + id + " failed: " + e.message;
	}
}

function summarize(r) {
	if (typeof r === "string") return r.trim();
	if (!r || typeof r !== "object") return "done";
	if (Array.isArray(r.results))	/* cancel, retry */
		return r.results.map(x => (x.ok ? "done" : "refused") +
		    (x.message ? ": " + x.message : "")).join("; ");
	const parts = [];
	if (r.accepted !== undefined) parts.push("accepted " + r.accepted);
	if (r.rejected !== undefined) parts.push("rejected " + r.rejected);
	if (Array.isArray(r.job_ids) && r.job_ids.length) parts.push("id " + r.job_ids.join(", "));
	if (Array.isArray(r.errors) && r.errors.length)
		parts.push("errors: " + r.errors.map(e => typeof e === "string" ? e : JSON.stringify(e)).join("; "));
	return parts.length ? parts.join(", ") : JSON.stringify(r);
}

async function submitJobs(text) {
	const out = $("submit-result");
	out.className = "";
	out.textContent = "submitting...";
	try {
		/* 200 all accepted, 207 some, 422 none: the body says which */
		const res = await api("/jobs/submit", {
			method: "POST", raw: true,
			headers: { "Content-Type": "application/json" },
			body: text,
		});
		let r;
		try { r = await res.json(); } catch (e) { r = null; }
		if (!res.ok && !(r && r.rejected !== undefined))
			throw new HttpError(res.status, res.status + " " + res.statusText +
			    (r && r.error ? ": " + r.error : ""));
		out.textContent = summarize(r);
		if (!res.ok || (r && r.rejected)) out.className = "error";
	} catch (e) {
		out.className = "error";
		out.textContent = "submit failed: " + e.message;
	}
}

function formJob() {
	const type = $("f-type").value;
	const src = { type };
	const v = id => $(id).value.trim();
	if (type === "file") src.path = v("f-path");
	if (type === "http") src.url = v("f-url");
	if (type === "vsphere") { src.server = v("f-server"); src.vm = v("f-vm"); }
	if (type !== "file" && v("f-cred")) src.credential = v("f-cred");
	return { name: $("f-name").value, source: src };
}

function showSourceFields() {
	const type = $("f-type").value;
	for (const s of document.querySelectorAll("#submit-form .src"))
		s.hidden = !s.classList.contains("src-" + type);
}

/* ---------- the job page ---------- */

function showJobFacts(job) {
	$("job-name").textContent = job.name || "";
	$("job-id").textContent = job.id;
	$("job-stage").textContent = job.stage || "";
	$("job-progress").replaceChildren();
	if (job.progress) {
		$("job-progress").append(progressBar(job.progress), " ",
		    fmtProgress(job.progress), " ", fmtRate(job.progress), " ",
		    fmtEta(job.progress) ? "ETA " + fmtEta(job.progress) : "");
	}
	$("job-reason").textContent = job.reason || "";
	$("job-retry").textContent = retryText(job.retry);
	$("job-cancel").disabled = job.stage === "imported" || job.stage === "error" || job.stage === "gone";
	$("job-retry-btn").disabled = job.stage !== "error";
}

function historyLine(h) {
	if (typeof h === "string") return h;
	return [h.time, h.stage, h.actor, h.note].filter(x => x !== undefined && x !== null && x !== "").join(" ");
}

async function loadJob(id, withLog) {
	let body;
	try {
		body = await api("/jobs/" + encodeURIComponent(id));
	} catch (e) {
		$("job-action").textContent = "could not read the job: " + e.message;
		return;
	}
	if (currentJob !== id) return;
	const j = body.job && body.job.id ? body.job : body;
	const job = Object.assign({}, jobs.get(id) || {}, normJob(Object.assign({}, j, body)));
	if (!job.name && body.job && body.job.name) job.name = body.job.name;
	showJobFacts(job);
	const ol = $("job-history");
	ol.replaceChildren();
	let hist = body.history || [];
	if (typeof hist === "string") hist = hist.split("\n").filter(Boolean);
	for (const h of hist) ol.append(el("li", historyLine(h)));
	if (withLog) tailLog(id);
}

async function tailLog(id) {
	if (logAbort) logAbort.abort();
	const ctl = new AbortController();
	logAbort = ctl;
	const pre = $("job-log");
	pre.replaceChildren();
	$("log-state").textContent = "(following)";
	try {
		const res = await api("/jobs/logs/" + encodeURIComponent(id) + "?follow=1",
		    { raw: true, signal: ctl.signal });
		if (!res.ok) throw new HttpError(res.status, res.status + " " + res.statusText);
		const reader = res.body.getReader();
		const dec = new TextDecoder();
		for (;;) {
			const { value, done } = await reader.read();
			if (done) break;
			pre.append(document.createTextNode(dec.decode(value, { stream: true })));
			if (pre.textContent.length > LOG_MAX)
				pre.textContent = pre.textContent.slice(-LOG_MAX / 2);
			pre.scrollTop = pre.scrollHeight;
		}
		$("log-state").textContent = "(ended)";
	} catch (e) {
		if (!ctl.signal.aborted) $("log-state").textContent = "(" + e.message + ")";
	}
}

function route() {
	const m = location.hash.match(/^#\/job\/(.+)$/);
	if (logAbort) { logAbort.abort(); logAbort = null; }
	if (m && token()) {
		currentJob = decodeURIComponent(m[1]);
		$("job-view").hidden = false;
		$("jobs-view").hidden = true;
		$("submit-view").hidden = true;
		$("job-action").textContent = "";
		$("job-history").replaceChildren();
		$("job-log").replaceChildren();
		const known = jobs.get(currentJob);
		showJobFacts(known || { id: currentJob });
		loadJob(currentJob, true);
	} else {
		currentJob = null;
		$("job-view").hidden = true;
		$("jobs-view").hidden = false;
		$("submit-view").hidden = false;
	}
}

/* ---------- sign in and out ---------- */

function showSignedIn(on) {
	$("signin-view").hidden = on;
	$("app-view").hidden = !on;
	$("signout").hidden = !on;
}

function signOut(message) {
	sessionStorage.removeItem(TOKEN_KEY);
	if (eventsAbort) eventsAbort.abort();
	if (logAbort) logAbort.abort();
	if (statusTimer) clearInterval(statusTimer);
	statusTimer = null;
	jobs.clear();
	$("jobs").tBodies[0].replaceChildren();
	setConn(false, "offline");
	showSignedIn(false);
	const err = $("signin-error");
	err.textContent = message || "";
	err.hidden = !message;
}

function start() {
	showSignedIn(true);
	$("signin-error").hidden = true;
	loadStatus();
	statusTimer = setInterval(loadStatus, 5000);	/* heartbeat ages */
	runEvents();
	route();
}

async function signIn(tok) {
	const err = $("signin-error");
	err.hidden = true;
	/* try the token before keeping it */
	let res;
	try {
		res = await fetch("/status", { headers: { "Authorization": "Bearer " + tok } });
	} catch (e) {
		err.textContent = "apid did not answer: " + e.message;
		err.hidden = false;
		return;
	}
	if (res.status === 401) {
		err.textContent = "Wrong token: apid refused it (401).";
	} else if (res.status === 403) {
		err.textContent = "This token may not read job status (403).";
	} else if (!res.ok) {
		err.textContent = "Sign-in failed: " + res.status + " " + res.statusText;
	} else {
		sessionStorage.setItem(TOKEN_KEY, tok);
		$("token").value = "";
		start();
		return;
	}
	err.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
	$("signin-form").addEventListener("submit", e => {
		e.preventDefault();
		signIn($("token").value.trim());
	});
	$("signout").addEventListener("click", () => signOut(""));
	$("submit-form").addEventListener("submit", e => {
		e.preventDefault();
		submitJobs(JSON.stringify(formJob()));
	});
	$("raw-form").addEventListener("submit", e => {
		e.preventDefault();
		submitJobs($("raw").value);
	});
	$("f-type").addEventListener("change", showSourceFields);
	$("job-cancel").addEventListener("click", () => currentJob && jobAction("cancel", currentJob));
	$("job-retry-btn").addEventListener("click", () => currentJob && jobAction("retry", currentJob));
	$("back").addEventListener("click", e => { e.preventDefault(); location.hash = ""; });
	window.addEventListener("hashchange", route);
	showSourceFields();
	if (token()) start();
	else showSignedIn(false);
});
