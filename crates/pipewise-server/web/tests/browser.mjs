// The pages in a real browser (Debian's Chromium, driven by playwright-core).
// Started by crates/pipewise/tests/browser.rs, which builds a workspace,
// adds the users and serves it; this script gets:
//   PIPEWISE_URL        http://127.0.0.1:PORT
//   PIPEWISE_USERS      JSON {login: {password, role, owners: [ids] | null}}
//                       (owners: the CRM users whose deals they must see,
//                       worked out by the Rust test from the users table)
//   PIPEWISE_AS_OF      a day with data; PIPEWISE_AS_OF_2 another one
//   PIPEWISE_ARTIFACTS  where screenshots go
// Exits non-zero with a message on the first failed check.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const url = process.env.PIPEWISE_URL;
const users = JSON.parse(process.env.PIPEWISE_USERS);
const asOf = process.env.PIPEWISE_AS_OF;
const asOf2 = process.env.PIPEWISE_AS_OF_2;
const artifacts = process.env.PIPEWISE_ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const problems = [];
let current = null; // the page a failure is screenshot from
async function session(login) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  current = page;
  // Failed answers are checked by URL (the console's message has none):
  // before signing in /api/me is 401; without a saved backtest it is 404.
  const expected = [[401, /\/api\/me$/], [404, /\/api\/backtest$/]];
  page.on("response", (r) => {
    if (r.status() >= 400 && !expected.some(([s, re]) => s === r.status() && re.test(r.url().split("?")[0]))) problems.push(`${login}: ${r.status()} from ${r.url()}`);
  });
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`${login}: console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`${login}: page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`${login}: request failed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(url + "/");
  await page.locator("#login").waitFor();
  await page.fill("#login", login);
  await page.fill("#password", users[login].password);
  await page.click("#login-form button[type=submit]");
  await signedIn(page);
  return { context, page };
}

async function signedIn(page) {
  await page.waitForFunction(() => document.querySelector("#who").textContent !== "");
  await page.locator("#nav").waitFor({ state: "visible" });
}

/// The API from inside the page (the session's own cookie).
async function api(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { credentials: "same-origin" });
    return { status: r.status, body: await r.json() };
  }, path);
}

async function settle(page) {
  // the app marks the page drawn for the address it shows
  await page.waitForFunction(() => document.body.dataset.rendered === location.hash && document.querySelector("#busy").textContent === "");
  // (panels fill as their answers come)
  await page.waitForFunction(() => ![...document.querySelectorAll(".panel .note")].some((n) => n.textContent === "Loading…"));
}

async function shot(page, name) {
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
}

async function gotoPage(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await settle(page);
}

const countOf = async (page, table) => {
  const t = await page.locator(`[data-table="${table}"] .count`).first().textContent();
  return Number(t.replace(/[^0-9]/g, ""));
};

async function main() {
// 1. Each role sees exactly their scope, in the grid and in the API.
const seen = {};
for (const [login, u] of Object.entries(users)) {
  const { context, page } = await session(login);
  await gotoPage(page, `#/deals?as_of=${asOf}`);
  await page.locator('[data-table="deals"] table').waitFor();
  const grid = await countOf(page, "deals");
  const { status, body } = await api(page, `/api/deals?as_of=${asOf}&open=true`);
  assert.equal(status, 200, `${login}: /api/deals`);
  assert.equal(grid, body.length, `${login}: the grid shows ${grid} deals, the API ${body.length}`);
  assert.ok(body.length > 0, `${login}: sees no deals`);
  if (u.owners) {
    const allowed = new Set(u.owners);
    const outside = body.filter((d) => !allowed.has(d.owner_id));
    assert.equal(outside.length, 0, `${login} (${u.role}) sees deals outside their scope: ${outside.slice(0, 3).map((d) => d.opportunity_id + " of " + d.owner_id)}`);
  }
  // the rows on screen are the API's (first page, sorted by amount)
  const shown = await page.locator('[data-table="deals"] a[data-deal]').evaluateAll((as) => as.map((a) => a.dataset.deal));
  const ids = new Set(body.map((d) => d.opportunity_id));
  assert.ok(shown.length > 0 && shown.every((id) => ids.has(id)), `${login}: the grid shows deals the API does not give`);
  seen[login] = body.length;
  // win probabilities: the model's, for deals in scope only
  const scores = await api(page, `/api/deals/scores?as_of=${asOf}`);
  assert.equal(scores.status, 200, `${login}: /api/deals/scores`);
  assert.ok(scores.body.length > 0 && scores.body.every((s) => ids.has(s.opportunity_id)), `${login}: scores outside the scope`);
  const first = await page.locator('[data-table="deals"] tbody tr').first();
  const shownId = await first.locator("a[data-deal]").getAttribute("data-deal");
  const want = scores.body.find((s) => s.opportunity_id === shownId);
  if (want) {
    const text = await first.locator("td").nth(8).textContent();
    assert.equal(text, `${(want.p_won * 100).toFixed(1)}%`, `${login}: P(won) of ${shownId} in the grid`);
  }
  await shot(page, `deals-${login}`);
  await context.close();
}
const byRole = (r) => Object.keys(users).find((l) => users[l].role === r);
assert.ok(seen[byRole("rep")] < seen[byRole("manager")], `a rep sees fewer deals than their manager: ${JSON.stringify(seen)}`);
assert.ok(seen[byRole("manager")] < seen[byRole("exec")], `a manager sees fewer deals than the exec: ${JSON.stringify(seen)}`);

// 2. The manager: every page renders; a KPI clicks through to its deals;
//    the as-of date time-travels the numbers to what the API gives.
{
  const login = byRole("manager");
  const { context, page } = await session(login);
  await gotoPage(page, `#/pipeline?as_of=${asOf}`);
  await page.locator('.kpi[data-metric="win_rate"]').waitFor();
  await shot(page, "pipeline");
  const period = await page.inputValue("#f-period");
  const cardValue = async (m) => page.locator(`.kpi[data-metric="${m}"] .kpi-value`).getAttribute("data-value");
  const before = await cardValue("open_pipeline");
  // the card is the API's number for that day
  const api1 = await api(page, `/api/metrics/open_pipeline?period=${period}&as_of=${asOf}`);
  assert.equal(Number(before), api1.body[0].value, "open pipeline card vs API");

  // click through: the win rate card opens its deals
  const win = await cardValue("win_rate");
  await page.click('.kpi[data-metric="win_rate"]');
  await page.waitForURL(/#\/explain\/win_rate/);
  await settle(page);
  assert.equal(await page.locator("#explain-value").getAttribute("data-value"), win, "the explain page's value is the card's");
  const rows = await countOf(page, "explain-win_rate");
  const explained = await api(page, `/api/metrics/win_rate/explain?period=${period}&as_of=${asOf}`);
  assert.equal(rows, explained.body.length, "the explain table lists the API's rows");
  const counted = explained.body.filter((r) => r.role === "counted");
  const num = counted.reduce((s, r) => s + r.numerator, 0);
  const den = counted.reduce((s, r) => s + r.denominator, 0);
  assert.ok(den > 0, "win rate has deals behind it");
  assert.ok(Math.abs(num / den - Number(win)) < 1e-9, `the deals behind the win rate add up to it (${num}/${den} vs ${win})`);
  await shot(page, "explain");
  // … and a deal opens its history
  await page.locator('[data-table="explain-win_rate"] tbody a').first().click();
  await page.waitForURL(/#\/deal\//);
  await settle(page);
  const events = await page.locator(".timeline li").count();
  assert.ok(events >= 2, `a deal's timeline has its changes (${events})`);
  await shot(page, "deal");

  // time travel: another as-of day gives that day's numbers
  await gotoPage(page, `#/pipeline?as_of=${asOf}&period=${period}`);
  await page.locator('.kpi[data-metric="open_pipeline"]').waitFor();
  await page.fill("#f-asof", asOf2);
  await page.click("#filters button[type=submit]");
  await page.waitForURL(new RegExp(`as_of=${asOf2}`));
  await settle(page);
  const after = await cardValue("open_pipeline");
  const api2 = await api(page, `/api/metrics/open_pipeline?period=${period}&as_of=${asOf2}`);
  assert.equal(Number(after), api2.body[0].value, "after changing the as-of day, the card is the API's number for it");
  assert.notEqual(after, before, "the open pipeline differs between the two days");

  // a funnel stage's count opens the deals behind it
  const funnel = (await api(page, `/api/funnel?period=${period}&as_of=${asOf2}`)).body;
  const stage = funnel.find((s) => s.entered > 0);
  await page.click(`a[data-stage="${stage.stage}"]`);
  await page.waitForURL(/#\/stage\//);
  await settle(page);
  assert.equal(await countOf(page, "stage-deals"), stage.entered, "the deals behind the funnel stage");
  await page.goBack();
  await settle(page);
  // the velocity panel is the API's
  const vel = (await api(page, `/api/velocity?period=${period}&as_of=${asOf2}`)).body;
  assert.equal(await countOf(page, "velocity"), vel.length, "the velocity table");
  // a factor of velocity opens that metric's deals, its value the factor's
  const factor = vel.find((r) => r.factor === "close_rate");
  await page.click('[data-table="velocity"] a[data-factor="close_rate"]');
  await page.waitForURL(/#\/explain\/close_rate/);
  await settle(page);
  const shownRate = Number(await page.locator("#explain-value").getAttribute("data-value"));
  assert.ok(Math.abs(shownRate - factor.after) < 1e-9, `close rate explained ${shownRate} is velocity's ${factor.after}`);
  await page.goBack();
  await settle(page);
  // a forecast method opens its math, each term's deals adding up to the term
  await gotoPage(page, `#/forecast?as_of=${asOf}`);
  await page.click('a[data-method="stage_weighted"]');
  await page.waitForURL(/#\/method\/stage_weighted/);
  await settle(page);
  const fc = (await api(page, `/api/forecast?period=${period}&as_of=${asOf}&method=stage_weighted&explain=true`)).body.find((r) => r.group === "all");
  assert.equal(await countOf(page, "terms"), fc.terms.length, "the method's terms");
  for (const t of fc.terms.filter((t) => t.deals.length)) {
    const sum = t.deals.reduce((s, d) => s + d.contribution, 0);
    assert.ok(Math.abs(sum - t.value) < 1e-6 * Math.max(1, Math.abs(t.value)), `${t.name}: its deals add up to it (${sum} vs ${t.value})`);
    assert.equal(await countOf(page, `term-${t.name}`), t.deals.length);
  }
  await shot(page, "forecast-method");
  // a forecast category's amount opens the deals behind it (mid-quarter:
  // at its last day little is still open and closing in it)
  await gotoPage(page, `#/forecast?as_of=${asOf2}&period=${period}`);
  const cats = (await api(page, `/api/metrics/open_pipeline?period=${period}&as_of=${asOf2}&by=forecast_category`)).body;
  const cat = cats.find((r) => r.value > 0);
  assert.ok(cat, `some forecast category has open pipeline: ${JSON.stringify(cats)} (period ${period}, as of ${asOf2})`);
  const catName = cat.dims.forecast_category ?? "(none)";
  await page.click(`[data-table="categories"] a[data-category="${catName}"]`);
  await page.waitForURL(/#\/explain\/open_pipeline/);
  await settle(page);
  const catShown = Number(await page.locator("#explain-value").getAttribute("data-value"));
  assert.ok(Math.abs(catShown - cat.value) < 1e-6, `the category's explain shows its amount (${catShown} vs ${cat.value})`);
  const catRows = (await api(page, `/api/metrics/open_pipeline/explain?period=${period}&as_of=${asOf2}&by=forecast_category`)).body
    .filter((r) => (r.dims.forecast_category ?? "(none)") === catName);
  assert.equal(await countOf(page, "explain-open_pipeline"), catRows.length, "the category's deals");
  const catSum = catRows.reduce((a, r) => a + r.numerator, 0);
  assert.ok(Math.abs(catSum - cat.numerator) < 1e-6 * Math.max(1, cat.numerator), "its deals add up to it");
  for (const p of ["forecast", "reps"]) {
    await gotoPage(page, `#/${p}?as_of=${asOf}`);
    const errors = await page.locator("#page .error").allTextContents();
    assert.deepEqual(errors, [], `${p}: errors on the page`);
    await shot(page, p);
  }
  // a call made in the browser lands, in the API and in the table
  await gotoPage(page, `#/forecast?as_of=${asOf}`);
  await page.fill("#call-commit", "123456");
  await page.fill("#call-most-likely", "150000");
  await page.fill("#call-best-case", "200000");
  await page.fill("#call-note", "from the browser test");
  await page.click("#call-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector('[data-table="submissions"]'));
  await settle(page);
  const calls = await api(page, `/api/submissions?period=${period}`);
  assert.ok(calls.body.some((c) => c.commit === 123456 && c.note === "from the browser test" && c.source === `web:${login}`), "the browser's call is in the API");
  assert.ok((await page.locator('[data-table="submissions"]').textContent()).includes("123,456"), "and on the page");
  await shot(page, "forecast-with-call");
  await gotoPage(page, `#/quality?as_of=${asOf}`);
  assert.deepEqual(await page.locator("#page .error").allTextContents(), [], "quality: errors on the page");
  const open = (await api(page, `/api/deals?as_of=${asOf}&open=true`)).body.length;
  const q = (await api(page, `/api/quality?as_of=${asOf}`)).body;
  assert.ok(q.completeness.every((c) => c.deals === open), "completeness counts the open deals in scope");
  await shot(page, "quality");
  // a field's missing count opens the open deals without it, each of them
  // without it in the grid's own rows
  const gap = q.completeness.find((c) => c.filled < c.deals && ["close_date", "amount", "segment", "account_id"].includes(c.field))
    ?? q.completeness.find((c) => c.filled < c.deals);
  await page.click(`[data-table="completeness"] a[data-missing="${gap.field}"]`);
  await page.waitForURL(/#\/missing\//);
  await settle(page);
  assert.equal(await countOf(page, "missing"), gap.deals - gap.filled, `the deals without ${gap.field}`);
  const without = (await api(page, `/api/deals?as_of=${asOf}&open=true&missing=${gap.field}`)).body;
  if (gap.field in without[0]) assert.ok(without.every((d) => d[gap.field] === null), "none of them has it");
  await gotoPage(page, `#/leads?as_of=${asOf}`);
  assert.deepEqual(await page.locator("#page .error").allTextContents(), [], "leads: errors on the page");
  const leads = (await api(page, `/api/leads?as_of=${asOf}`)).body;
  assert.ok(leads.total > 0 && (await countOf(page, "deciles")) === leads.deciles.length, "the leads page shows the API's deciles");
  await shot(page, "leads");
  // a decile's count opens its leads; an owner's late touches theirs
  const top = leads.deciles[0];
  await page.click(`[data-table="deciles"] a[data-leads='{"decile":"${top.decile}"}']`);
  await page.waitForURL(/#\/leadset/);
  await settle(page);
  assert.equal(await countOf(page, "leadset"), top.leads, "the decile's leads are its count");
  await shot(page, "leads-decile");
  await gotoPage(page, `#/reps?as_of=${asOf}`);
  // a segment narrows the grid to what the API gives for it
  await gotoPage(page, `#/deals?as_of=${asOf}`);
  const seg = await page.locator("#f-segment option").nth(1).getAttribute("value");
  await page.selectOption("#f-segment", seg);
  await page.click("#filters button[type=submit]");
  await page.waitForURL(new RegExp(`segment=${seg}`));
  await settle(page);
  const segDeals = (await api(page, `/api/deals?as_of=${asOf}&open=true&segment=${seg}`)).body;
  assert.ok(segDeals.every((d) => d.segment === seg), "the API's segment filter");
  assert.equal(await countOf(page, "deals"), segDeals.length, "the grid under a segment filter");
  await gotoPage(page, `#/reps?as_of=${asOf}`);
  // a saved view comes back with its page and filters
  await page.fill("#view-name", "team reps at quarter end");
  await page.click("#view-save");
  await page.waitForFunction(() => [...document.querySelectorAll("#views option")].some((o) => o.textContent === "team reps at quarter end"));
  const saved = await page.evaluate(() => location.hash);
  await gotoPage(page, `#/deals?as_of=${asOf2}`);
  await page.selectOption("#views", { label: "team reps at quarter end" });
  await page.waitForFunction((h) => location.hash === h, saved);
  await settle(page);
  // the reps page ranks the manager's team only
  const reps = await countOf(page, "leaderboard");
  assert.ok(reps > 0 && reps <= users[login].owners.length, `the leaderboard has the team's reps (${reps})`);
  // a rep's number opens the deals behind it, and they add up to it
  const cell = page.locator('[data-rep-metric$=":win_rate"]');
  const cells = await cell.evaluateAll((as) => as.map((a) => [a.dataset.repMetric, a.dataset.value]).filter(([, v]) => v !== ""));
  const [key, repWin] = cells[0];
  const repId = key.split(":")[0];
  await page.click(`[data-rep-metric="${key}"]`);
  await page.waitForURL(new RegExp(`#/explain/win_rate.*under=${repId}`));
  await settle(page);
  assert.equal(await page.locator("#explain-value").getAttribute("data-value"), repWin, "the rep's win rate, explained under them");
  const repRows = (await api(page, `/api/metrics/win_rate/explain?period=${period}&as_of=${asOf}&under=${repId}`)).body;
  assert.equal(await countOf(page, "explain-win_rate"), repRows.length);
  await gotoPage(page, `#/reps?as_of=${asOf}`);
  // a table downloads as CSV with one line per row and a header
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-table="leaderboard"] .csv')]);
  const csv = await (await dl.createReadStream()).toArray();
  const lines = Buffer.concat(csv).toString("utf8").trim().split("\n");
  assert.equal(lines.length, reps + 1, "the CSV has a header and a line per rep");
  await context.close();
}

// 3. The admin: the audit log holds the manager's reads and the browser's call.
{
  const login = byRole("admin");
  const { context, page } = await session(login);
  assert.equal(await page.locator("#nav-audit").isVisible(), true, "the admin sees the Audit page");
  await gotoPage(page, "#/audit");
  const audit = (await api(page, "/api/audit?limit=100000")).body;
  const manager = byRole("manager");
  assert.ok(audit.some((a) => a.login === manager && a.method === "POST" && a.target.startsWith("/api/submissions")), "the call is audited");
  assert.ok(audit.some((a) => a.login === manager && a.target.startsWith("/api/scorecard")), "the manager's reads are audited");
  assert.ok((await countOf(page, "audit")) > 0);
  await shot(page, "audit");
  // long work shows its progress: a backtest run from the forecast page
  await gotoPage(page, `#/forecast?as_of=${asOf}`);
  await page.click("#run-backtest");
  await page.locator("#job-progress").waitFor({ state: "visible" });
  await shot(page, "backtest-running");
  await page.locator('[data-table="backtest"]').waitFor({ timeout: 600000 });
  await settle(page);
  const bt = (await api(page, "/api/backtest")).body;
  assert.equal(await countOf(page, "backtest"), bt.leaderboard.length, "the page shows the backtest just saved");
  const jobs = (await api(page, "/api/jobs")).body;
  assert.ok(jobs[0].state === "done" && jobs[0].done === jobs[0].total && jobs[0].total > 0, JSON.stringify(jobs[0]));
  await shot(page, "forecast-backtest");
  // a method's forecasts count opens each forecast against what was booked;
  // the WAPE over them is the leaderboard's
  const best = bt.leaderboard.find((r) => r.wape !== null);
  await page.click(`[data-table="backtest"] a[data-method="${best.method}"]`);
  await page.waitForURL(/#\/backtest\//);
  await settle(page);
  assert.equal(await countOf(page, "backtest-points"), bt.points.filter((p) => p.method === best.method).length);
  const shown = Number(await page.locator("#backtest-wape").getAttribute("data-value"));
  assert.ok(Math.abs(shown - best.wape) < 1e-9, `WAPE over the points ${shown} is the leaderboard's ${best.wape}`);
  await shot(page, "backtest-points");
  // an ingest from the browser: a hand-written Salesforce Opportunity.csv
  // (three new deals of a rep, and its first row again, which is
  // quarantined), uploaded with its progress, then what it changed
  const rep = users[byRole("rep")].owners[0];
  const csv = "Id,Name,OwnerId,StageName,Amount,CloseDate,CreatedDate,IsClosed,IsWon\n" +
    `006BROWSER0000001AAA,Browser one,${rep},Discovery,12000,2027-06-30,2026-02-01T10:00:00Z,false,false\n` +
    `006BROWSER0000002AAA,Browser two,${rep},Proposal,30500,2027-05-31,2026-02-02T10:00:00Z,false,false\n` +
    `006BROWSER0000003AAA,Browser three,${rep},Qualification,8000,2027-07-31,2026-02-03T10:00:00Z,false,false\n` +
    `006BROWSER0000001AAA,Browser one,${rep},Discovery,12000,2027-06-30,2026-02-01T10:00:00Z,false,false\n`;
  const ingestsBefore = (await api(page, "/api/quality")).body.ingests.length;
  await gotoPage(page, "#/quality");
  await page.selectOption("#ingest-connector", "salesforce");
  await page.setInputFiles("#ingest-files", { name: "Opportunity.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.click("#ingest-start");
  await page.waitForFunction(() => ["done", "failed", "refused"].includes(document.querySelector("#ingest-message")?.dataset.state), null, { timeout: 120000 });
  await settle(page);
  const message = await page.locator("#ingest-message").textContent();
  assert.equal(await page.locator("#ingest-message").getAttribute("data-state"), "done", message);
  const q = (await api(page, "/api/quality")).body;
  assert.equal(q.ingests.length, ingestsBefore + 1, "the upload is a new ingest");
  const last = q.ingests[q.ingests.length - 1];
  assert.ok(message.includes(last.id), `the job names its ingest: ${message}`);
  assert.deepEqual([last.files[0].rows_read, last.files[0].rows_landed, last.files[0].rows_quarantined], [4, 3, 1]);
  await shot(page, "quality-after-ingest");
  await page.click('[data-table="changes-by-field"] a[data-field="amount"]');
  await page.waitForURL(/#\/changes\//);
  await settle(page);
  const changes = (await api(page, `/api/quality/changes?ingest=${last.id}&field=amount`)).body;
  assert.equal(changes.total, 3, "three amounts landed");
  assert.equal(await countOf(page, "changes"), changes.total, "the page lists the ingest's amount changes");
  await shot(page, "ingest-changes");
  await context.close();
  // … and no one else sees it
  const other = await session(byRole("exec"));
  assert.equal(await other.page.locator("#nav-audit").isVisible(), false);
  assert.equal((await api(other.page, "/api/audit")).status, 403);
  assert.equal(await other.page.locator("#views option").count(), 1, "another user's saved views are not theirs");
  // (that refusal was the point: not a problem)
  problems.splice(problems.findIndex((p) => /403 from .*\/api\/audit$/.test(p)), 1);
  await other.context.close();
}

// 4. Keyboard only: sign in and reach the deals grid without a mouse.
{
  const login = byRole("exec");
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  current = page;
  await page.goto(url + "/");
  await page.locator("#login").waitFor();
  assert.equal(await page.locator("#nav").isVisible(), false, "no pages before signing in");
  // focus starts in the login field
  assert.equal(await page.evaluate(() => document.activeElement.id), "login");
  await page.keyboard.type(login);
  await page.keyboard.press("Tab");
  await page.keyboard.type(users[login].password);
  await page.keyboard.press("Enter");
  await signedIn(page);
  await settle(page);
  // (signing in puts focus on the page's content; the pages are above it)
  let reached = false;
  for (let i = 0; i < 30 && !reached; i++) {
    await page.keyboard.press("Shift+Tab");
    reached = await page.evaluate(() => document.activeElement?.dataset?.page === "deals");
  }
  assert.ok(reached, "the Deals link is reachable with Tab");
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/deals/);
  await settle(page);
  // sort the grid by keyboard: Tab to a column header's button, Enter
  let sorted = false;
  for (let i = 0; i < 40 && !sorted; i++) {
    await page.keyboard.press("Tab");
    sorted = await page.evaluate(() => document.activeElement?.classList.contains("sort"));
  }
  assert.ok(sorted, "a column header is reachable with Tab");
  await page.keyboard.press("Enter");
  const sort = await page.locator('[data-table="deals"] th[aria-sort]:not([aria-sort="none"])').count();
  assert.equal(sort, 1, "Enter on a header sorts by it");
  await shot(page, "keyboard-deals");
  await context.close();
}

assert.deepEqual(problems, [], "the browser reported problems");
}

try {
  await main();
  console.log(`browser checks passed; screenshots in ${artifacts}`);
} catch (e) {
  if (current) await current.screenshot({ path: `${artifacts}/failure.png`, fullPage: true }).catch(() => {});
  console.error(e);
  if (problems.length) console.error("the browser reported:\n" + problems.join("\n"));
  console.error(`the page at the failure: ${artifacts}/failure.png`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
