// syncgate admin console: plain JavaScript, no dependencies. The admin key
// lives in sessionStorage (this tab only) and goes in the Authorization
// header of every API call; no cookies, so no CSRF. Everything the server
// sends is shown with textContent, never parsed as HTML.
'use strict';

const KEY = 'syncgate-admin-key';
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const opts = { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) } };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch('/admin/api/' + path, opts);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) {
    sessionStorage.removeItem(KEY);
    showLogin('That key was not accepted.');
    throw new Error('unauthorized');
  }
  if (!res.ok) {
    throw new Error((data.error && data.error.message) || ('HTTP ' + res.status));
  }
  return data;
}

// when formats every time the same way: UTC, to the second.
function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

function cell(tr, text) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  tr.appendChild(td);
  return td;
}

function fill(tableId, rows, cols) {
  const tbody = $(tableId).querySelector('tbody');
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement('tr');
    for (const c of cols) cell(tr, typeof c === 'function' ? c(r) : r[c]);
    tbody.appendChild(tr);
  }
  return tbody;
}

function showLogin(message) {
  $('login').hidden = false;
  $('nav').hidden = true;
  for (const p of document.querySelectorAll('.page')) p.hidden = true;
  $('login-error').textContent = message || '';
}

async function login() {
  const key = $('key').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY, key);
  $('key').value = '';
  try {
    await api('overview');
  } catch (e) {
    if (e.message !== 'unauthorized') showLogin(e.message);
    return;
  }
  $('login').hidden = true;
  $('nav').hidden = false;
  show('overview');
}

async function show(page) {
  for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== 'page-' + page;
  for (const b of document.querySelectorAll('nav [data-page]')) b.classList.toggle('active', b.dataset.page === page);
  if (page === 'overview') await overview();
  if (page === 'rejected') await listRejected();
  if (page === 'rules') await rulesPage();
  if (page === 'authz') await authzPage();
  if (page === 'attachments') await attachmentsPage();
}

async function overview() {
  const o = await api('overview');
  $('nav-attachments').hidden = !o.attachments;
  $('ready-status').textContent = o.readiness ? o.readiness.status : (o.ready ? 'ready' : 'not ready');
  fill('checks', Object.entries((o.readiness && o.readiness.checks) || {}), [(r) => r[0], (r) => r[1]]);
  fill('guests', o.guests || [], ['name', 'tables', 'calls', 'rejections', 'timeouts', 'traps']);
  const byKey = new Map();
  for (const c of o.rejected_last_day || []) byKey.set(c.table + '\u0000' + c.code, { table: c.table, code: c.code, day: c.count, hour: 0 });
  for (const c of o.rejected_last_hour || []) {
    const k = c.table + '\u0000' + c.code;
    const row = byKey.get(k) || { table: c.table, code: c.code, day: c.count, hour: 0 };
    row.hour = c.count;
    byKey.set(k, row);
  }
  fill('counts', [...byKey.values()], ['table', 'code', 'hour', 'day']);
}

async function rulesPage() {
  const r = await api('rules');
  fill('rules-tables', r.tables || [], ['table', (t) => (t.guests || []).join(' → ') || '(none)', (t) => t.schema || '(none: unchecked)']);
  const rl = r.reload || {};
  const rows = [['loaded', rl.loaded ? 'yes' : 'no'], ['last reload', when(rl.last)], ['live since', when(rl.live_since)],
    ['last error', rl.error || 'none'], ['reloads', rl.reloads], ['failed reloads', rl.failures], ['rules_id', rl.rules_id]];
  const tbody = fill('rules-reload', rows, [(x) => x[0], (x) => x[1]]);
  [...tbody.children].forEach((tr, i) => { tr.id = 'reload-' + rows[i][0].replace(/ /g, '-'); });
  const files = [...(r.schema_files || []), ...(r.guest_files || [])];
  fill('rules-files', files, ['file', 'bytes', (f) => when(f.modified)]);
}

async function authzPage() {
  const a = await api('authorization');
  $('authz-dir').textContent = a.rules_dir || '';
  $('authz-posture').textContent = !a.loaded ? 'No rules are loaded yet.' : (a.posture || '');
  $('authz-rules').hidden = !a.rules;
  if (a.rules) {
    const rows = (a.rules.tables || []).map((t) => [t.table, t.file, t.roles]);
    if (a.rules.default) rows.push(['every other table', a.rules.default.file, a.rules.default.roles]);
    else rows.push(['every other table', '(no default_rule.json)', []]);
    const tbody = fill('authz-tables', rows, [(r) => r[0], (r) => r[1], (r) => r[2].length ? r[2].join(' → ') : 'no roles (writes denied)']);
    [...tbody.children].forEach((tr, i) => { tr.dataset.table = rows[i][0]; });
    const notes = [...(a.rules.ignored || []).map((n) => ['ignored', n]), ...(a.rules.warnings || []).map((n) => ['fail closed', n])];
    fill('authz-notes', notes.length ? notes : [['', 'none']], [(r) => r[0], (r) => r[1]]);
  }
  $('authz-sync').hidden = !a.sync;
  if (a.sync) {
    $('authz-sync-file').textContent = a.sync_config;
    const rows = [];
    for (const t of a.sync.tables || []) for (const s of t.streams || []) rows.push([t.table, s.stream, s.condition]);
    fill('authz-streams', rows, [(r) => r[0], (r) => r[1], (r) => r[2] || '(none)']);
    fill('authz-open', a.sync.open || [], ['stream', 'table', 'line', 'reason']);
  }
}

// jsonField parses a textarea: empty is undefined (left out), anything
// else must be JSON.
function jsonField(id, name) {
  const text = $(id).value.trim();
  if (!text) return undefined;
  try { return JSON.parse(text); } catch (e) { throw new Error(name + ': not JSON (' + e.message + ')'); }
}

async function explain() {
  $('x-decision').textContent = '';
  $('x-decision').className = 'result';
  $('x-trace').textContent = '';
  let body;
  try {
    body = { user: $('x-user').value.trim(), claims: jsonField('x-claims', 'claims'), op: jsonField('x-op', 'op'),
      current: jsonField('x-current', 'current'), parents: jsonField('x-parents', 'parents') };
  } catch (e) {
    $('x-decision').textContent = 'Error: ' + e.message;
    return;
  }
  let e;
  try {
    e = await api('authorization/explain', body);
  } catch (err) {
    if (err.message !== 'unauthorized') $('x-decision').textContent = 'Error: ' + err.message;
    return;
  }
  $('x-decision').textContent = (e.allow ? 'allow' : 'deny, code forbidden') + (e.reason ? ': ' + e.reason : '');
  $('x-decision').className = 'result ' + (e.allow ? 'allow' : 'deny');
  const lines = [];
  for (const c of e.checks || []) {
    lines.push(c.check + ' (' + c.source + '):');
    for (const l of c.trace || []) lines.push('  ' + l);
    lines.push('  ' + c.check + ': ' + (c.allow ? 'allow' : 'deny') + ' (' + c.reason + ')');
  }
  $('x-trace').textContent = lines.join('\n');
}

function size(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

let deleting = null;

async function attachmentsPage() {
  const a = await api('attachments');
  $('att-confirm').hidden = true;
  deleting = null;
  if (!a.enabled) {
    $('att-summary').textContent = 'Attachments are off (ATTACHMENTS=false).';
    fill('att-list', [], []);
    return;
  }
  const shown = a.attachments.length < a.total ? ' (newest ' + a.attachments.length + ' shown)' : '';
  $('att-summary').textContent = a.total + ' attachments, ' + size(a.bytes) + shown;
  const tbody = fill('att-list', a.attachments, ['id', (r) => size(r.size), 'owner', 'content_type', (r) => when(r.uploaded), () => '']);
  [...tbody.children].forEach((tr, i) => {
    const id = a.attachments[i].id;
    tr.dataset.id = id;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'att-delete';
    b.textContent = 'Delete…';
    b.addEventListener('click', () => {
      deleting = id;
      $('att-confirm-id').textContent = id;
      $('att-confirm').hidden = false;
      $('att-result').textContent = '';
    });
    tr.lastChild.appendChild(b);
  });
}

async function deleteAttachment() {
  if (!deleting) return;
  const id = deleting;
  const r = await api('attachments/delete', { id: id });
  await attachmentsPage();
  $('att-result').textContent = 'deleted ' + r.deleted + ' (' + size(r.size) + ', owner ' + r.owner + ')';
}

function filter() {
  const f = {};
  for (const k of ['table', 'user', 'code', 'state']) {
    const v = $('f-' + k).value.trim();
    if (v) f[k] = v;
  }
  return f;
}

let selected = null;

async function listRejected() {
  const q = new URLSearchParams(filter());
  const data = await api('rejected?' + q.toString());
  const tbody = fill('rejected', data.rejected, [
    (r) => when(r.at), 'user_id', 'op', 'table', 'doc_id', 'code', 'state', 'reason',
  ]);
  [...tbody.children].forEach((tr, i) => {
    tr.dataset.id = data.rejected[i].id;
    tr.addEventListener('click', () => detail(data.rejected[i].id));
  });
  $('bulk-apply').disabled = true;
}

async function detail(id) {
  const d = await api('rejected/show?id=' + encodeURIComponent(id));
  selected = d;
  for (const tr of $('rejected').querySelectorAll('tbody tr')) tr.classList.toggle('selected', tr.dataset.id === id);
  $('detail').hidden = false;
  $('d-id').textContent = d.id;
  const dl = $('d-fields');
  dl.replaceChildren();
  const fields = [['state', d.state], ['time', when(d.at)], ['user', d.user_id], ['request id', d.request_id],
    ['op', d.op + ' ' + d.table + '/' + d.doc_id], ['code', d.code], ['reason', d.reason], ['stage', d.stage], ['tx_id', d.tx_id],
    ['replays', d.replays], ['last replay', when(d.replayed_at)], ['result', d.result], ['handled', when(d.handled_at)], ['note', d.note]];
  for (const [k, v] of fields) {
    if (v === undefined || v === null || v === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.id = 'd-' + k.replace(/ /g, '-');
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
  if (d.raw) {
    $('d-data-title').textContent = 'Raw text as sent' + (d.raw_truncated ? ' (cut at 64 KiB)' : '');
    let text = d.raw;
    try { text = JSON.stringify(JSON.parse(d.raw), null, 2); } catch (e) { /* show as sent */ }
    $('d-data').textContent = text;
  } else {
    $('d-data-title').textContent = 'Data';
    $('d-data').textContent = JSON.stringify(d.data === undefined ? null : d.data, null, 2);
  }
  // The actions follow the record's state: only an open record can be
  // replayed, resolved or discarded.
  const open = d.state === 'open';
  for (const b of ['dry-run', 'resolve', 'discard']) $(b).disabled = !open;
  $('apply').disabled = true;
  $('actions-note').textContent = open ? '' : 'This record is ' + d.state + ': nothing more to do with it.';
  $('result').textContent = '';
}

// outcomeText says what a replay of one record did, without a rate.
function outcomeText(r) {
  const o = r.outcomes[0];
  if (!o) return 'nothing replayed';
  const said = { applied: '1 applied', would_apply: '1 would apply', rejected: r.summary.dry_run ? 'would be rejected' : 'rejected again', skipped: 'skipped (not open)' };
  return (said[o.result] || o.result) + (o.reason ? ': ' + (o.code ? o.code + ': ' : '') + o.reason : '');
}

async function replayOne(dryRun) {
  if (!selected) return;
  const r = await api('rejected/replay', { ids: [selected.id], dry_run: dryRun });
  $('result').textContent = outcomeText(r);
  $('apply').disabled = !(dryRun && r.summary.would_apply > 0);
  if (!dryRun) {
    await listRejected();
    await detail(selected.id);
    $('result').textContent = outcomeText(r);
  }
}

async function markOne(state) {
  if (!selected) return;
  const r = await api('rejected/' + (state === 'resolved' ? 'resolve' : 'discard'), { ids: [selected.id] });
  await listRejected();
  await detail(selected.id);
  $('result').textContent = state + ' ' + r.marked;
}

async function bulk(dryRun) {
  const f = filter();
  delete f.state;
  if (!f.table && !f.user && !f.code) {
    $('bulk-result').textContent = 'Set a table, user or code first.';
    return;
  }
  const r = await api('rejected/replay', { filter: f, dry_run: dryRun });
  $('bulk-result').textContent = r.line;
  $('bulk-apply').disabled = !(dryRun && r.summary.would_apply > 0);
  if (!dryRun) await listRejected();
}

function guard(f) {
  return (...args) => f(...args).catch((e) => {
    if (e.message !== 'unauthorized') {
      const out = !$('page-attachments').hidden ? $('att-result') : ($('detail').hidden ? $('bulk-result') : $('result'));
      out.textContent = 'Error: ' + e.message;
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-button').addEventListener('click', guard(login));
  $('key').addEventListener('keydown', (e) => { if (e.key === 'Enter') guard(login)(); });
  $('logout').addEventListener('click', () => { sessionStorage.removeItem(KEY); showLogin(''); });
  for (const b of document.querySelectorAll('nav [data-page]')) b.addEventListener('click', guard(() => show(b.dataset.page)));
  $('f-apply').addEventListener('click', guard(listRejected));
  $('dry-run').addEventListener('click', guard(() => replayOne(true)));
  $('apply').addEventListener('click', guard(() => replayOne(false)));
  $('discard').addEventListener('click', guard(() => markOne('discarded')));
  $('resolve').addEventListener('click', guard(() => markOne('resolved')));
  $('bulk-dry').addEventListener('click', guard(() => bulk(true)));
  $('bulk-apply').addEventListener('click', guard(() => bulk(false)));
  $('x-run').addEventListener('click', guard(explain));
  $('att-confirm-yes').addEventListener('click', guard(deleteAttachment));
  $('att-confirm-no').addEventListener('click', () => { deleting = null; $('att-confirm').hidden = true; });
  if (sessionStorage.getItem(KEY)) {
    $('login').hidden = true;
    $('nav').hidden = false;
    guard(show)('overview');
  }
});
