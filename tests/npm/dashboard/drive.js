// drive.js - walks the web dashboard in Debian's chromium (playwright-core,
// no browser of its own) for tests/bats/dashboard.bats, as a user would:
// a wrong token, the right one, a job submitted through the form watched
// to `imported` without a reload, its page and log, and a job whose name
// is markup, which must show as text, and the retry button on it.
//
// Usage: node drive.js walk URL TOKEN SOURCE_PATH OUTDIR
//        node drive.js progress URL TOKEN HTTP_URL OUTDIR
//        node drive.js reconnect URL TOKEN JOB_NAME OUTDIR
// "progress": a slow http job submitted through the form shows a moving
// progress bar with rate and ETA, and its Cancel button stops it, the
// row showing the reason.
// Prints "ok STEP" per step and saves OUTDIR/NN-STEP.png (NN counting on
// from 10 in "progress", 20 in "reconnect"); on the first failure prints "FAIL STEP: why",
// saves OUTDIR/fail-MODE.png and exits 1.
"use strict";
const { chromium } = require("playwright-core");

const [mode, url, token, srcPath, outdir] = process.argv.slice(2);
const EVIL = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
let n = { progress: 10, reconnect: 20 }[mode] || 0;

async function shot(page, what) {
	n++;
	const file = `${outdir}/${String(n).padStart(2, "0")}-${what}.png`;
	await page.screenshot({ path: file, fullPage: true });
	console.log(`ok ${what} (${file})`);
}

// signIn(PAGE, TOKEN): through the form, until the live stream is up
async function signIn(page, tok) {
	await page.fill("#token", tok);
	await page.click("#signin-form button");
	await page.waitForSelector("#app-view:not([hidden])");
	await page.waitForSelector("#conn.live");
	await page.waitForSelector("#daemons .daemon");
}

async function walk(page, at) {
	let step;

	step = "wrong-token"; at(step);
	await page.fill("#token", "not-" + token);
	await page.click("#signin-form button");
	await page.waitForSelector("#signin-error:not([hidden])");
	const msg = await page.textContent("#signin-error");
	if (!/wrong token/i.test(msg)) throw new Error("sign-in error says: " + msg);
	if (await page.isVisible("#app-view")) throw new Error("app shown with a wrong token");
	await shot(page, step);

	step = "signed-in"; at(step);
	await signIn(page, token);
	await shot(page, step);
	// a mark that a reload would lose
	await page.evaluate(() => { window.__noReload = 1; });

	step = "submitted"; at(step);
	await page.fill("#f-name", "dash-web01");
	await page.selectOption("#f-type", "file");
	await page.fill("#f-path", srcPath);
	await page.click("#submit-form button[type=submit]");
	await page.waitForFunction(() =>
		/accepted 1/.test(document.getElementById("submit-result").textContent));
	await shot(page, step);

	step = "imported"; at(step);
	const row = 'xpath=//tbody/tr[td[@class="name"]/a[text()="dash-web01"]]';
	await page.waitForSelector(row);
	await page.waitForSelector(row + '[@data-stage="imported"]', { timeout: 90000 });
	// the counts per stage follow (from /status, asked again on a
	// stage event)
	await page.waitForSelector('#stages .count[data-stage="imported"]:text-is("imported 1")');
	if (await page.evaluate(() => window.__noReload) !== 1)
		throw new Error("the page was reloaded");
	await shot(page, step);

	step = "job-log"; at(step);
	await page.click(row + "/td[@class='name']/a");
	await page.waitForSelector("#job-view:not([hidden])");
	await page.waitForFunction(() =>
		document.querySelectorAll("#job-history li").length >= 4);
	await page.waitForFunction(() =>
		document.getElementById("job-log").textContent.length > 0);
	const stage = await page.textContent("#job-stage");
	if (stage !== "imported") throw new Error("job page says stage " + stage);
	await shot(page, step);

	step = "markup-name"; at(step);
	await page.click("#back");
	await page.waitForSelector("#jobs-view:not([hidden])");
	await page.click("#submit-view summary");
	await page.fill("#raw", JSON.stringify({ name: EVIL,
		source: { type: "file", path: srcPath } }));
	await page.click("#raw-form button");
	// queued refuses the name (not a libvirt name): the job lands in
	// error/ with it, and the table shows it as it is
	await page.waitForFunction(evil => [...document.querySelectorAll("#jobs td.name a")]
		.some(a => a.textContent === evil), EVIL, { timeout: 30000 });
	await page.waitForSelector('#stages .count[data-stage="error"]:text-is("error 1")');
	const found = await page.evaluate(() => ({
		xss: window.__xss,
		scripts: document.querySelectorAll("#jobs script, #jobs img").length,
	}));
	if (found.xss !== undefined || found.scripts !== 0)
		throw new Error("markup in a job name ran or became elements: " +
		    JSON.stringify(found));
	await shot(page, step);

	step = "retry"; at(step);
	// the admin's retry button on the refused job: apid's answer
	// (done, or refused with its message) shows on the page
	await page.click('xpath=//tbody/tr[@data-stage="error"]//button[text()="Retry"]');
	await page.waitForFunction(() => /^retry \S+: (done|refused)/.test(
		document.getElementById("submit-result").textContent));
	await shot(page, step);

	step = "vsphere-form"; at(step);
	// the form's vSphere source with a named credential: queued's answer
	// shows (dashboard.bats reads the job file it made)
	await page.selectOption("#f-type", "vsphere");
	if (await page.isVisible("#f-path")) throw new Error("path field shown for vsphere");
	await page.fill("#f-name", "dash-vs01");
	await page.fill("#f-server", "vc.example.com");
	await page.fill("#f-vm", "web02");
	await page.fill("#f-cred", "lab");
	await page.click("#submit-form button[type=submit]");
	await page.waitForFunction(() =>
		/accepted \d, rejected \d/.test(document.getElementById("submit-result").textContent));
	await shot(page, step);
}

async function progress(page, at) {
	at("progress");
	await signIn(page, token);
	await page.fill("#f-name", "dash-slow01");
	await page.selectOption("#f-type", "http");
	await page.fill("#f-url", srcPath);
	await page.click("#submit-form button[type=submit]");
	await page.waitForFunction(() =>
		/accepted 1/.test(document.getElementById("submit-result").textContent));
	const row = 'xpath=//tbody/tr[td[@class="name"]/a[text()="dash-slow01"]]';
	// a bar with what is done and the rate while the download runs (and
	// an ETA where the total is known), and the figures move
	const state = r => {
		const tr = document.evaluate(r.slice(6), document, null,
		    XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		const bar = tr && tr.querySelector("td.progress progress");
		if (!bar || !/\/s$/.test(tr.querySelector("td.rate").textContent)) return null;
		if (bar.max > 1 && !/\d+s$/.test(tr.querySelector("td.eta").textContent)) return null;
		return tr.querySelector("td.progress .done").textContent;
	};
	let first = null, now = null;
	for (const end = Date.now() + 30000; Date.now() < end; await page.waitForTimeout(100)) {
		now = await page.evaluate(state, row);
		if (first === null) first = now;
		else if (now !== null && now !== first) break;
	}
	if (first === null || now === first)
		throw new Error("no moving progress: " + first + ", then " + now);
	await shot(page, "progress");
	at("cancelled");
	await page.click(row + '//button[text()="Cancel"]');
	await page.waitForSelector(row + '[@data-stage="error"]', { timeout: 30000 });
	const reason = await page.textContent(row + '/td[@class="reason"]');
	if (!/cancel/i.test(reason)) throw new Error("reason after cancel: " + reason);
	await shot(page, "cancelled");
}

// reconnect: signed in, tell the test (OUTDIR/signed-in), which restarts
// apid and drops a job (NAME) meanwhile; the page must notice the stream
// end, come back live by itself and show that job at `imported`
async function reconnect(page, at) {
	at("reconnecting");
	await signIn(page, token);
	await page.evaluate(() => { window.__noReload = 1; });
	require("fs").writeFileSync(outdir + "/signed-in", "");
	await page.waitForSelector("#conn:not(.live)", { timeout: 30000 });
	await shot(page, "reconnecting");
	at("reconnected");
	await page.waitForSelector("#conn.live", { timeout: 60000 });
	const row = `xpath=//tbody/tr[td[@class="name"]/a[text()="${srcPath}"]]`;
	await page.waitForSelector(row + '[@data-stage="imported"]', { timeout: 90000 });
	if (await page.evaluate(() => window.__noReload) !== 1)
		throw new Error("the page was reloaded");
	await shot(page, "reconnected");
}

async function main() {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
		headless: true,
		args: ["--no-sandbox"],	// root in CI; the page is ours on loopback
	});
	const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
	const errors = [];
	page.on("pageerror", e => errors.push(String(e)));
	page.on("dialog", d => { errors.push("dialog: " + d.message()); d.dismiss(); });
	let step = "load";
	const at = x => { step = x; };
	try {
		await page.goto(url);
		if (mode === "progress") await progress(page, at);
		else if (mode === "reconnect") await reconnect(page, at);
		else await walk(page, at);
		if (errors.length) throw new Error("page errors: " + errors.join("; "));
	} catch (e) {
		console.log(`FAIL ${step}: ${e.message}`);
		await page.screenshot({ path: `${outdir}/fail-${mode}.png`, fullPage: true }).catch(() => {});
		await browser.close();
		process.exit(1);
	}
	await browser.close();
}

main().catch(e => { console.log("FAIL " + e.message); process.exit(1); });
