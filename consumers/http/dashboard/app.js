/* dossierwatch dashboard: the commune ranking (worst first, sortable), a
 * chart of a unit's rates by month (Chart.js, served by serve itself), the
 * open alerts of the reader's scope (filter by rule and severity) and a
 * dossier's timeline. Everything comes from the JSON API with the reader's
 * bearer token; what the token may see is decided by PostgreSQL, so this
 * page only shows what it gets. Vietnamese by default, English with
 * ?lang=en. The token is taken once from the URL fragment (#token=..., which
 * browsers never send to a server) or a form, and kept in sessionStorage
 * (gone when the tab closes). */
'use strict';

const I18N = {
  vi: {
    title: 'Giám sát hồ sơ thủ tục hành chính',
    token_label: 'Mã truy cập (token)', token_submit: 'Đăng nhập',
    token_bad: 'Mã truy cập không hợp lệ hoặc đã bị thu hồi.',
    ranking_title: 'Xếp hạng xã, phường', ranking_title_agency: 'Xếp hạng cơ quan',
    ranking_hint: 'Đơn vị chậm nhất ở trên cùng; bấm tiêu đề cột để sắp xếp, bấm một dòng để xem biểu đồ.',
    period: 'Kỳ', month: 'Tháng', quarter: 'Quý', year: 'Năm', rolling30: '30 ngày gần nhất',
    rank: 'Hạng', code: 'Mã', name: 'Tên đơn vị',
    result_digitized_rate: 'Số hóa kết quả', intake_digitized_rate: 'Số hóa hồ sơ',
    on_time_rate: 'Đúng hạn', online_rate: 'Trực tuyến', open_overdue: 'Quá hạn đang mở', score: 'Điểm',
    no_rows: 'Chưa có số liệu cho kỳ này.',
    chart_title: 'Tỷ lệ theo tháng',
    alerts_title: 'Cảnh báo đang mở', rule: 'Quy tắc', severity: 'Mức độ', all: 'Tất cả',
    critical: 'Nghiêm trọng', warning: 'Cảnh báo', raised_at: 'Phát sinh', dossier: 'Hồ sơ',
    commune: 'Xã', agency: 'Cơ quan', due_at: 'Hạn trả kết quả', more: 'Xem thêm', none: 'Không có cảnh báo.',
    dossier_title: 'Hồ sơ', close: 'Đóng', timeline: 'Dòng thời gian', time: 'Thời điểm', event: 'Sự kiện',
    details: 'Chi tiết', dossier_alerts: 'Cảnh báo của hồ sơ',
    silenced: 'đã tắt thông báo', silenced_by: 'Tắt bởi',
    st_open: 'Đang giải quyết', st_closed: 'Đã kết thúc', st_paused: 'Tạm dừng (chờ bổ sung)',
    st_status: 'Trạng thái', st_received: 'Tiếp nhận', st_due: 'Hạn trả kết quả', st_initial_due: 'Hạn ban đầu',
    st_pauses: 'Tạm dừng', st_apologies: 'Phiếu xin lỗi và hẹn lại', st_closed_at: 'Kết thúc',
    st_channel: 'Hình thức', promised: 'hẹn lại', resumed: 'tiếp tục', scope: 'Phạm vi',
    scope_province: 'toàn tỉnh', scope_agency: 'cơ quan', scope_commune: 'xã', behind: 'chậm',
    rules: {
      DUE_SOON: 'Sắp đến hạn', OVERDUE: 'Quá hạn', APOLOGY_MISSING: 'Thiếu phiếu xin lỗi',
      PROMISE_MISSED: 'Trễ hẹn lại', INTAKE_NOT_DIGITIZED: 'Chưa số hóa hồ sơ',
      RESULT_NOT_DIGITIZED: 'Chưa số hóa kết quả', PAPER_REQUESTED_FROM_WAREHOUSE: 'Đòi giấy tờ đã có trong kho',
    },
    events: {
      RECEIVED: 'Tiếp nhận', DIGITIZED: 'Số hóa hồ sơ', DOC_REUSED: 'Tái sử dụng giấy tờ',
      PAPER_REQUESTED: 'Yêu cầu giấy tờ', TRANSFERRED: 'Liên thông', SUPPLEMENT_REQUESTED: 'Yêu cầu bổ sung',
      SUPPLEMENT_RECEIVED: 'Nhận bổ sung', APOLOGY_ISSUED: 'Phiếu xin lỗi và hẹn lại', RESULT_ISSUED: 'Có kết quả',
      RESULT_DIGITIZED: 'Số hóa kết quả', RETURNED: 'Trả kết quả', REJECTED: 'Từ chối', WITHDRAWN: 'Rút hồ sơ',
      PAYMENT: 'Thanh toán phí', RATED: 'Đánh giá',
    },
  },
  en: {
    title: 'Administrative-procedure dossier watch',
    token_label: 'Access token', token_submit: 'Sign in',
    token_bad: 'The token is not valid or was revoked.',
    ranking_title: 'Commune ranking', ranking_title_agency: 'Agency ranking',
    ranking_hint: 'Worst first; click a column header to sort, a row for its chart.',
    period: 'Period', month: 'Month', quarter: 'Quarter', year: 'Year', rolling30: 'Last 30 days',
    rank: 'Rank', code: 'Code', name: 'Name',
    result_digitized_rate: 'Result digitization', intake_digitized_rate: 'Intake digitization',
    on_time_rate: 'On time', online_rate: 'Online', open_overdue: 'Open overdue', score: 'Score',
    no_rows: 'No figures for this period yet.',
    chart_title: 'Rates by month',
    alerts_title: 'Open alerts', rule: 'Rule', severity: 'Severity', all: 'All',
    critical: 'Critical', warning: 'Warning', raised_at: 'Raised', dossier: 'Dossier',
    commune: 'Commune', agency: 'Agency', due_at: 'Due', more: 'More', none: 'No alerts.',
    dossier_title: 'Dossier', close: 'Close', timeline: 'Timeline', time: 'Time', event: 'Event',
    details: 'Details', dossier_alerts: 'Alerts of this dossier',
    silenced: 'silenced', silenced_by: 'Silenced by',
    st_open: 'Open', st_closed: 'Closed', st_paused: 'Paused (waiting for a supplement)',
    st_status: 'Status', st_received: 'Received', st_due: 'Due', st_initial_due: 'First due time',
    st_pauses: 'Pauses', st_apologies: 'Apologies', st_closed_at: 'Closed',
    st_channel: 'Channel', promised: 'promised', resumed: 'resumed', scope: 'Scope',
    scope_province: 'province', scope_agency: 'agency', scope_commune: 'commune', behind: 'behind',
    rules: {
      DUE_SOON: 'Due soon', OVERDUE: 'Overdue', APOLOGY_MISSING: 'Apology missing', PROMISE_MISSED: 'Promise missed',
      INTAKE_NOT_DIGITIZED: 'Intake not digitized', RESULT_NOT_DIGITIZED: 'Result not digitized',
      PAPER_REQUESTED_FROM_WAREHOUSE: 'Paper requested from warehouse',
    },
    events: {
      RECEIVED: 'Received', DIGITIZED: 'Digitized', DOC_REUSED: 'Document reused', PAPER_REQUESTED: 'Paper requested',
      TRANSFERRED: 'Transferred', SUPPLEMENT_REQUESTED: 'Supplement requested', SUPPLEMENT_RECEIVED: 'Supplement received',
      APOLOGY_ISSUED: 'Apology issued', RESULT_ISSUED: 'Result issued', RESULT_DIGITIZED: 'Result digitized',
      RETURNED: 'Returned', REJECTED: 'Rejected', WITHDRAWN: 'Withdrawn', PAYMENT: 'Payment', RATED: 'Rated',
    },
  },
};

const RULES = ['OVERDUE', 'APOLOGY_MISSING', 'PROMISE_MISSED', 'DUE_SOON', 'INTAKE_NOT_DIGITIZED',
  'RESULT_NOT_DIGITIZED', 'PAPER_REQUESTED_FROM_WAREHOUSE'];
const RATE_KEYS = ['result_digitized_rate', 'intake_digitized_rate', 'on_time_rate', 'online_rate'];
const BEHIND_BELOW = 80; /* result digitization under the score's threshold: behind */

const lang = new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'vi';
const T = I18N[lang];
const $ = (id) => document.getElementById(id);
const state = { token: null, unitType: 'commune', rows: [], sortKey: null, sortDir: 1, selected: null,
  alertsNext: null, chart: null, openDossier: null };

/* ---- text and numbers ---- */
function fmtRate(v) {
  if (v === null || v === undefined) return '–';
  return v.toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    + (lang === 'vi' ? ' %' : '%');
}
function fmtNum(v) {
  if (v === null || v === undefined) return '–';
  return v.toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
/* "2025-04-29T08:05:00+07:00" shown in its own (local) offset, no browser time zone involved */
function fmtTime(s) {
  if (!s) return '–';
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(s);
  if (!m) return s;
  return lang === 'vi' ? `${m[3]}/${m[2]}/${m[1]} ${m[4]}:${m[5]}` : `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}`;
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
function applyLabels() {
  document.documentElement.lang = lang;
  document.title = T.title;
  for (const e of document.querySelectorAll('[data-i18n]')) {
    const v = T[e.getAttribute('data-i18n')];
    if (typeof v === 'string') e.textContent = v;
  }
  const sw = $('lang-switch');
  sw.textContent = lang === 'vi' ? 'English' : 'Tiếng Việt';
  sw.href = lang === 'vi' ? '?lang=en' : '?';
  for (const r of RULES) $('rule-filter').append(el('option', { value: r, text: T.rules[r] }));
}
function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

/* ---- token and API ---- */
/* #token=...: kept, then removed from the address bar; #dossier=ID opens
 * that dossier's timeline (a link a colleague can be sent, without the token) */
function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  const d = /(?:^#|&)dossier=([^&]+)/.exec(location.hash);
  if (d) state.openDossier = decodeURIComponent(d[1]);
  if (m) {
    sessionStorage.setItem('dw.token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search + (d ? '#dossier=' + d[1] : ''));
  }
  return sessionStorage.getItem('dw.token');
}
function askToken(bad) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('login-error').hidden = !bad;
  $('login-error').textContent = bad ? T.token_bad : '';
}
async function api(path) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + state.token } });
  if (r.status === 401) {
    sessionStorage.removeItem('dw.token');
    askToken(true);
    throw new Error('401');
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

/* ---- ranking ---- */
function sortRows() {
  const k = state.sortKey, d = state.sortDir;
  if (!k) return state.rows;
  return state.rows.slice().sort((a, b) => {
    const x = a[k], y = b[k];
    if (x === null && y === null) return a.unit < b.unit ? -1 : 1;
    if (x === null) return 1; /* no figure: last either way */
    if (y === null) return -1;
    if (x < y) return -d;
    if (x > y) return d;
    return a.unit < b.unit ? -1 : 1;
  });
}
function renderRanking() {
  const tb = $('ranking').querySelector('tbody');
  tb.replaceChildren();
  for (const th of $('ranking').querySelectorAll('th')) {
    th.classList.toggle('sorted-asc', th.dataset.key === state.sortKey && state.sortDir > 0);
    th.classList.toggle('sorted-desc', th.dataset.key === state.sortKey && state.sortDir < 0);
  }
  for (const r of sortRows()) {
    const behind = r.result_digitized_rate !== null && r.result_digitized_rate < BEHIND_BELOW;
    const tr = el('tr', { 'data-unit': r.unit, class: behind ? 'behind' : '' });
    tr.append(el('td', { class: 'num', text: String(r.rank) }));
    tr.append(el('td', { class: 'code', text: r.unit }));
    tr.append(el('td', { class: 'name', text: r.name || r.unit, title: behind ? T.behind : '' }));
    for (const k of RATE_KEYS)
      tr.append(el('td', { class: 'num ' + k, 'data-value': r[k] === null ? '' : r[k].toFixed(2), text: fmtRate(r[k]) }));
    tr.append(el('td', { class: 'num open_overdue', 'data-value': String(r.open_overdue), text: String(r.open_overdue) }));
    tr.append(el('td', { class: 'num score', 'data-value': r.score === null ? '' : r.score.toFixed(2), text: fmtNum(r.score) }));
    if (r.unit === state.selected) tr.classList.add('selected');
    tr.addEventListener('click', () => selectUnit(r.unit));
    tb.append(tr);
  }
  $('ranking-empty').hidden = state.rows.length > 0;
}
async function loadRanking() {
  const kind = $('period-kind').value;
  const q = new URLSearchParams({ unit_type: state.unitType, period_kind: kind, period: 'current',
    by: 'result_digitized_rate', order: 'worst' });
  const res = await api('/api/v1/ranking?' + q);
  state.rows = res.rows;
  state.sortKey = null;
  $('period-name').textContent = res.period;
  if (!state.selected && res.rows.length) state.selected = res.rows[0].unit;
  renderRanking();
  if (state.selected) await loadChart(state.selected);
}
async function selectUnit(unit) {
  state.selected = unit;
  renderRanking();
  await loadChart(unit).catch((e) => showError(e.message));
}

/* ---- chart: the selected unit's rates over the last 12 months ---- */
async function loadChart(unit) {
  const now = new Date(Date.now() + 7 * 3600e3); /* the API's local time is +07:00 */
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  const ym = (d) => `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  const q = new URLSearchParams({ unit_type: state.unitType, period_kind: 'month', from: ym(from), to: 'current', unit });
  const res = await api('/api/v1/aggregates?' + q);
  const row = state.rows.find((r) => r.unit === unit);
  $('chart-unit').textContent = (row && row.name) ? `${row.name} (${unit})` : unit;
  const labels = res.rows.map((r) => r.period);
  const colors = ['#b3261e', '#0b5394', '#2e7d32', '#8a5a00'];
  const datasets = RATE_KEYS.map((k, i) => ({ label: T[k], data: res.rows.map((r) => r[k]), borderColor: colors[i],
    backgroundColor: colors[i], spanGaps: true, tension: 0 }));
  if (typeof Chart === 'undefined') return;
  if (state.chart) state.chart.destroy();
  state.chart = new Chart($('chart'), {
    type: 'line', data: { labels, datasets },
    options: { animation: false, responsive: true, scales: { y: { min: 0, max: 100 } },
      plugins: { legend: { position: 'bottom' } } },
  });
}

/* ---- alerts ---- */
/* An alert muted by a silence: still listed, marked (notify sends nothing for it). */
function silencedMark(a) {
  return el('span', { class: 'silenced-mark', title: T.silenced_by + ' ' + a.silenced_by.join(', '), text: T.silenced });
}
function alertRow(a) {
  const link = el('a', { href: '#', class: 'dossier', 'data-dossier': a.dossier_id, text: a.dossier_id });
  link.addEventListener('click', (ev) => { ev.preventDefault(); openDossier(a.dossier_id); });
  const rule = el('td', { text: T.rules[a.rule] || a.rule });
  if (a.silenced) rule.append(' ', silencedMark(a));
  return el('tr', { 'data-alert': a.alert_id, class: a.silenced ? 'silenced' : '' },
    el('td', { text: fmtTime(a.raised_at) }), rule,
    el('td', { class: 'sev-' + a.severity, text: T[a.severity] || a.severity }), el('td', {}, link),
    el('td', { text: a.commune }), el('td', { text: a.agency }), el('td', { text: fmtTime(a.due_at) }));
}
async function loadAlerts(more) {
  const q = new URLSearchParams({ state: 'open', limit: '50' });
  if ($('rule-filter').value) q.set('rule', $('rule-filter').value);
  if ($('severity-filter').value) q.set('severity', $('severity-filter').value);
  if (more && state.alertsNext) q.set('after', state.alertsNext);
  const res = await api('/api/v1/alerts?' + q);
  const tb = $('alerts').querySelector('tbody');
  if (!more) tb.replaceChildren();
  for (const a of res.alerts) tb.append(alertRow(a));
  if (!more && res.alerts.length === 0) tb.append(el('tr', {}, el('td', { colspan: '7', text: T.none })));
  state.alertsNext = res.next;
  $('alerts-more').hidden = !res.next;
}

/* ---- a dossier's timeline ---- */
function eventDetails(e) {
  const skip = new Set(['event_id', 'dossier_id', 'type', 'occurred_at', 'commune', 'agency', 'procedure']);
  return Object.entries(e).filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}: ${typeof v === 'string' && /T\d\d:/.test(v) ? fmtTime(v) : v}`).join(', ');
}
async function openDossier(id) {
  const d = await api('/api/v1/dossiers/' + encodeURIComponent(id)).catch((e) => { showError(e.message); return null; });
  if (!d) return;
  $('dossier-id').textContent = id;
  const dl = $('dossier-state');
  dl.replaceChildren();
  const add = (k, v) => dl.append(el('dt', { text: k }), el('dd', { text: v }));
  const s = d.state;
  if (s && s.received_at !== undefined) {
    add(T.st_status, s.paused ? T.st_paused : s.open ? T.st_open : T.st_closed);
    add(T.st_received, fmtTime(s.received_at));
    add(T.st_channel, s.channel || '–');
    add(T.st_due, fmtTime(s.due_at));
    if (s.initial_due_at !== s.due_at) add(T.st_initial_due, fmtTime(s.initial_due_at));
    if (s.pauses.length)
      add(T.st_pauses, s.pauses.map((p) => `${fmtTime(p.requested_at)} → ${p.resumed_at ? fmtTime(p.resumed_at) : '…'}`).join('; '));
    if (s.apologies.length)
      add(T.st_apologies, s.apologies.map((a) => `${fmtTime(a.issued_at)} (${T.promised} ${fmtTime(a.promised_at)})`).join('; '));
    if (s.closed_at) add(T.st_closed_at, fmtTime(s.closed_at));
  }
  const tb = $('dossier-events').querySelector('tbody');
  tb.replaceChildren();
  for (const e of d.events)
    tb.append(el('tr', { 'data-event': e.event_id }, el('td', { text: fmtTime(e.occurred_at) }),
      el('td', { text: T.events[e.type] || e.type }), el('td', { text: e.agency }), el('td', { text: eventDetails(e) })));
  const ul = $('dossier-alerts');
  ul.replaceChildren();
  for (const a of d.alerts) {
    const li = el('li', { class: 'sev-' + a.severity,
      text: `${T.rules[a.rule] || a.rule} — ${fmtTime(a.raised_at)}${a.cleared_at ? ' → ' + fmtTime(a.cleared_at) : ''}` });
    if (a.silenced) li.append(' ', silencedMark(a));
    ul.append(li);
  }
  $('dossier-section').hidden = false;
  $('dossier-section').scrollIntoView();
}

/* ---- start ---- */
async function start() {
  $('login').hidden = true;
  $('main').hidden = false;
  const me = await api('/api/v1/me');
  state.unitType = me.scope === 'agency' ? 'agency' : 'commune';
  $('who').textContent = `${me.name} — ${T.scope}: ${T['scope_' + me.scope] || me.scope}${me.units.length ? ' ' + me.units.join(', ') : ''}`;
  if (state.unitType === 'agency') $('ranking-title').textContent = T.ranking_title_agency;
  await Promise.all([loadRanking(), loadAlerts(false)]);
  if (state.openDossier) await openDossier(state.openDossier);
  document.body.dataset.ready = 'true';
}

document.addEventListener('DOMContentLoaded', () => {
  applyLabels();
  for (const th of $('ranking').querySelectorAll('th')) {
    th.addEventListener('click', () => {
      const k = th.dataset.key;
      state.sortDir = state.sortKey === k ? -state.sortDir : 1;
      state.sortKey = k;
      renderRanking();
    });
  }
  $('period-kind').addEventListener('change', () => { state.selected = null; loadRanking().catch((e) => showError(e.message)); });
  $('rule-filter').addEventListener('change', () => loadAlerts(false).catch((e) => showError(e.message)));
  $('severity-filter').addEventListener('change', () => loadAlerts(false).catch((e) => showError(e.message)));
  $('alerts-more').addEventListener('click', () => loadAlerts(true).catch((e) => showError(e.message)));
  $('dossier-close').addEventListener('click', () => { $('dossier-section').hidden = true; });
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    if (!t) return;
    sessionStorage.setItem('dw.token', t);
    state.token = t;
    start().catch((e) => { if (e.message !== '401') showError(e.message); });
  });
  state.token = takeToken();
  if (!state.token) { askToken(false); return; }
  start().catch((e) => { if (e.message !== '401') showError(e.message); });
});
