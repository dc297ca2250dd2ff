// Doorstep supervisor console: the pages are rendered on the server; this script makes them live.
// Sortable tables, live figures (server-sent events from /console/events, polling as a fallback),
// charts (Chart.js), review, conflict resolution, and the admin forms. It calls the JSON API with
// the console's session cookie. No build step.
(() => {
  'use strict';

  const body = document.body;
  const page = body.dataset.page;
  const lang = body.dataset.lang === 'en' ? 'en' : 'zh';
  const T = (zh, en) => (lang === 'en' ? en : zh);
  const parse = (s, fallback) => {
    try {
      return s ? JSON.parse(s) : fallback;
    } catch {
      return fallback;
    }
  };
  const OUTCOMES = parse(body.dataset.outcomes, {});
  const EXTRA = parse(body.dataset.extra, {});
  const TARGET = Number(body.dataset.targetBp || 9500);
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---------------------------------------------------------------- the API

  async function api(path, opts = {}) {
    // The header tells the server this call comes from the console's own script (a form on
    // another site cannot send it).
    const init = {
      credentials: 'same-origin',
      method: opts.method || 'GET',
      headers: { 'X-Doorstep-Console': '1' },
    };
    if (opts.json !== undefined) {
      init.method = opts.method || 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.json);
    }
    const r = await fetch(path, init);
    const text = await r.text();
    const data = parse(text, text);
    if (r.status === 401) {
      location.href =
        '/console/login?next=' + encodeURIComponent(location.pathname + location.search);
    }
    if (!r.ok) {
      const err = new Error(
        data && data.error ? data.error.message : `${r.status} ${r.statusText}`,
      );
      err.status = r.status;
      err.code = data && data.error ? data.error.code : undefined;
      throw err;
    }
    return data;
  }

  function uuidv7() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    let t = Date.now();
    for (let i = 5; i >= 0; i--) {
      b[i] = t % 256;
      t = Math.floor(t / 256);
    }
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---------------------------------------------------------------- formatting (as the server)

  const fmtBp = (b) =>
    b === null || b === undefined
      ? '—'
      : `${Math.floor(b / 100)}.${String(b % 100).padStart(2, '0')}%`;
  const hvClass = (b) => (b === null || b === undefined ? '' : b >= TARGET ? 'good' : 'bad');
  const pad = (n) => String(n).padStart(2, '0');
  // China time, as the server renders it.
  const fmtTime = (ms) => {
    if (!ms) return '—';
    const d = new Date(ms + 8 * 3600 * 1000);
    return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  };
  const gapText = (g) => (g > 0 ? `+${g}` : String(g));

  function flash(el) {
    el.classList.remove('flash');
    void el.offsetWidth;
    el.classList.add('flash');
  }

  function setText(el, text) {
    const s = String(text);
    if (el.textContent !== s) {
      el.textContent = s;
      flash(el);
    }
  }

  function message(el, text, kind) {
    if (!el) return;
    el.textContent = text;
    el.classList.remove('ok', 'error');
    if (kind) el.classList.add(kind);
  }

  // ---------------------------------------------------------------- sortable tables

  const collator = new Intl.Collator(lang === 'en' ? 'en' : 'zh-CN', { numeric: true });

  function sortKey(cell, type) {
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    if (type !== 'num') return raw;
    const n = parseFloat(raw);
    return Number.isNaN(n) ? -Infinity : n;
  }

  function sortBy(table, idx, type, dir) {
    const tbody = table.tBodies[0];
    const rows = Array.from(tbody.rows);
    rows.sort((a, b) => {
      const x = sortKey(a.cells[idx], type);
      const y = sortKey(b.cells[idx], type);
      let c = type === 'num' ? x - y : collator.compare(x, y);
      if (Number.isNaN(c)) c = 0;
      return dir === 'ascending' ? c : -c;
    });
    for (const r of rows) tbody.appendChild(r);
  }

  function resort(table) {
    if (!table) return;
    const ths = $$('thead th', table);
    const i = ths.findIndex((t) => t.hasAttribute('aria-sort'));
    if (i >= 0) sortBy(table, i, ths[i].dataset.sort, ths[i].getAttribute('aria-sort'));
  }

  function initSortable(table) {
    const ths = $$('thead th', table);
    ths.forEach((th, idx) => {
      const btn = $('button.sort', th);
      if (!btn) return;
      btn.addEventListener('click', () => {
        const dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        for (const t of ths) t.removeAttribute('aria-sort');
        th.setAttribute('aria-sort', dir);
        sortBy(table, idx, th.dataset.sort, dir);
      });
    });
  }

  // ---------------------------------------------------------------- live updates

  function setUpdated() {
    const el = $('#updated');
    if (!el) return;
    const d = new Date(Date.now() + 8 * 3600 * 1000);
    el.textContent = `${T('更新于', 'Updated at')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }

  function startLive(refresh) {
    const ind = $('#live');
    const show = (on) => {
      if (!ind) return;
      ind.classList.toggle('on', on);
      ind.classList.toggle('off', !on);
      $('.live-text', ind).textContent = on ? T('实时', 'Live') : T('定时刷新', 'Polling');
    };
    let running = false;
    let again = false;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await refresh();
      } catch (e) {
        console.warn('refresh failed', e);
      } finally {
        running = false;
        if (again) {
          again = false;
          run();
        }
      }
    };
    let es = null;
    let connectedBefore = false;
    if ('EventSource' in window) {
      es = new EventSource('/console/events');
      es.addEventListener('ready', () => {
        show(true);
        // After a reconnect, catch up with what happened meanwhile.
        if (connectedBefore) run();
        connectedBefore = true;
      });
      es.addEventListener('change', run);
      es.addEventListener('error', () => show(false));
    }
    setInterval(() => {
      if (!es || es.readyState !== EventSource.OPEN) run();
    }, 15000);
    return run;
  }

  // ---------------------------------------------------------------- figures

  function cellsOf(f, expected, last) {
    const g = f.done - expected;
    const c = {
      roster: [f.roster],
      done: [f.done],
      completion: [fmtBp(f.completion_bp), f.completion_bp ?? -1],
      home: [fmtBp(f.home_visit_bp), f.home_visit_bp ?? -1, hvClass(f.home_visit_bp)],
      app: [fmtBp(f.app_bp), f.app_bp ?? -1],
      keyed: [f.keyed ?? 0],
      expected: [expected],
      gap: [gapText(g), g, g < 0 ? 'behind' : ''],
      last: [fmtTime(last), last || 0],
      communities: [f.communities],
      communities_completed: [f.communities_completed],
    };
    f.outcomes.forEach((n, i) => {
      c[`o${i}`] = [n];
    });
    return c;
  }

  function setCell(el, v) {
    const [text, sort, cls] = v;
    setText(el, text);
    if (sort !== undefined) el.dataset.sort = sort;
    if (cls !== undefined) {
      el.classList.remove('good', 'bad', 'behind');
      if (cls) el.classList.add(cls);
    }
  }

  function fillRow(tr, cells) {
    for (const el of $$('[data-k]', tr)) {
      const v = cells[el.dataset.k];
      if (v) setCell(el, v);
    }
  }

  let charts = {};

  function drawCharts(p) {
    if (!window.Chart) return;
    window.Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    const barEl = $('#chart-streets');
    if (barEl) {
      const rows = p.streets.length > 1 ? p.streets : p.communities;
      const labels = rows.map((r) => r.name);
      const data = rows.map((r) => (r.figures.completion_bp ?? 0) / 100);
      if (!charts.bar) {
        charts.bar = new window.Chart(barEl, {
          type: 'bar',
          data: {
            labels,
            datasets: [
              { label: T('完成率', 'Completion'), data, backgroundColor: '#1f6feb', borderRadius: 4 },
            ],
          },
          options: {
            responsive: true,
            maintainAspectRatio: false,
            animation: { duration: 250 },
            scales: { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } },
            plugins: {
              legend: { display: false },
              tooltip: {
                callbacks: {
                  label: (ctx) => {
                    const f = charts.barRows[ctx.dataIndex].figures;
                    return `${fmtBp(f.completion_bp)} (${f.done} / ${f.roster})`;
                  },
                },
              },
            },
          },
        });
      } else {
        charts.bar.data.labels = labels;
        charts.bar.data.datasets[0].data = data;
        charts.bar.update();
      }
      charts.barRows = rows;
    }
    const lineEl = $('#chart-burnup');
    if (lineEl) {
      const DAY = 86400000;
      const start = Date.parse(`${p.campaign.starts}T00:00:00Z`);
      const dayIdx = (s) => Math.round((Date.parse(`${s}T00:00:00Z`) - start) / DAY);
      const endIdx = dayIdx(p.campaign.ends);
      const todayIdx = Math.floor((Date.now() + 8 * 3600 * 1000 - start) / DAY);
      let cum = 0;
      const actual = [{ x: 0, y: 0 }];
      for (const d of p.daily) {
        cum += d.n;
        actual.push({ x: Math.max(0, dayIdx(d.day)), y: cum });
      }
      const lastX = actual[actual.length - 1].x;
      const nowX = Math.min(Math.max(todayIdx, lastX), Math.max(endIdx, lastX));
      if (nowX > lastX) actual.push({ x: nowX, y: cum });
      const target = [
        { x: 0, y: 0 },
        { x: endIdx, y: p.total.roster },
      ];
      const maxX = Math.max(endIdx, lastX, 1);
      const label = (v) => {
        const d = new Date(start + v * DAY);
        const md = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
        return maxX > 365 ? `${d.getUTCFullYear()}-${md}` : md;
      };
      if (!charts.line) {
        charts.line = new window.Chart(lineEl, {
          type: 'line',
          data: {
            datasets: [
              {
                label: T('累计完成', 'Done (cumulative)'),
                data: actual,
                borderColor: '#1f6feb',
                backgroundColor: 'rgba(31,111,235,0.12)',
                fill: true,
                stepped: 'before',
                pointRadius: 2,
              },
              {
                label: T('目标线', 'Target line'),
                data: target,
                borderColor: '#8c959f',
                borderDash: [6, 4],
                pointRadius: 0,
                fill: false,
              },
            ],
          },
          options: {
            responsive: true,
            maintainAspectRatio: false,
            animation: { duration: 250 },
            parsing: false,
            scales: {
              x: { type: 'linear', min: 0, max: maxX, ticks: { callback: label, maxTicksLimit: 8 } },
              y: { min: 0, suggestedMax: p.total.roster, ticks: { precision: 0 } },
            },
            plugins: {
              tooltip: { callbacks: { title: (items) => (items.length ? label(items[0].parsed.x) : '') } },
            },
          },
        });
      } else {
        charts.line.data.datasets[0].data = actual;
        charts.line.data.datasets[1].data = target;
        charts.line.options.scales.x.max = maxX;
        charts.line.options.scales.y.suggestedMax = p.total.roster;
        charts.line.update();
      }
    }
  }

  async function refreshProgress() {
    const p = await api('/api/v1/progress');
    for (const r of [...p.streets, ...p.communities]) {
      for (const tr of $$(`tr[data-code="${r.code}"]`)) {
        fillRow(tr, cellsOf(r.figures, r.expected_by_today, r.last_activity));
      }
    }
    const expected = p.communities.reduce((s, c) => s + c.expected_by_today, 0);
    const totals = cellsOf(p.total, expected, null);
    for (const el of $$('[data-total]')) {
      const v = totals[el.dataset.total];
      if (v) setCell(el, v);
    }
    drawCharts(p);
    for (const t of $$('table.figures')) resort(t);
    filterCommunities();
    setUpdated();
    return p;
  }

  function filterCommunities() {
    const table = $('#communities');
    if (!table) return;
    const street = $('#street-filter') ? $('#street-filter').value : '';
    const q = ($('#community-search') ? $('#community-search').value : '').trim();
    const behind = $('#behind-only') ? $('#behind-only').checked : false;
    for (const tr of table.tBodies[0].rows) {
      const gap = Number($('[data-k="gap"]', tr).dataset.sort);
      tr.hidden =
        (street && tr.dataset.street !== street) ||
        (q && !tr.cells[0].textContent.includes(q)) ||
        (behind && !(gap < 0));
    }
  }

  // ---------------------------------------------------------------- pages

  function overview() {
    for (const id of ['street-filter', 'community-search', 'behind-only']) {
      const el = document.getElementById(id);
      if (el) el.addEventListener('input', filterCommunities);
    }
    startLive(refreshProgress);
    refreshProgress().catch((e) => console.warn(e));
  }

  const statusLabel = (l) =>
    l.status === 'final'
      ? T('已提交', 'Submitted')
      : !l.outcome && !l.updated_by
        ? T('未开始', 'Not started')
        : T('草稿', 'Draft');
  const REVIEW_LABELS = {
    pending: T('待审核', 'Pending'),
    street_approved: T('街道已复查', 'Street-approved'),
    approved: T('已通过', 'Approved'),
    returned: T('已退回', 'Returned'),
  };
  const reviewLabel = (l) => (l.status !== 'final' ? '—' : REVIEW_LABELS[l.review] || l.review);

  // What the caller may do with a record at a review stage: the shared rule (shared/src/review.rs,
  // `step`) with the caller's level as the page says it (`review_level`: street, district or none).
  function reviewActions(review, isFinal) {
    const level = EXTRA.review_level;
    const levels = String(EXTRA.review_levels || 'street').split(',');
    const none = { approve: false, ret: false };
    if (!isFinal || !level) return none;
    if (level === 'street') {
      if (!levels.includes('street')) return none;
      const districtDone = review === 'approved' && levels.includes('district');
      if (review === 'street_approved' || districtDone) return none;
    }
    return { approve: review !== 'approved', ret: true };
  }

  function fillPerson(tr, l) {
    tr.dataset.status = l.status;
    tr.dataset.review = l.review;
    tr.dataset.outcome = l.outcome || '';
    tr.dataset.conflicts = l.conflicts;
    const cell = (k) => $(`[data-k="${k}"]`, tr);
    setText(cell('outcome'), l.outcome ? OUTCOMES[l.outcome] || l.outcome : '—');
    setText(cell('status'), statusLabel(l));
    setText(cell('worker'), l.collected_by || '—');
    const time = cell('time');
    setText(time, l.updated_by ? fmtTime(l.updated_at) : '—');
    time.dataset.sort = l.updated_by ? l.updated_at : 0;
    setText(cell('review'), reviewLabel(l));
    const conflicts = cell('conflicts');
    if (conflicts.textContent.trim() !== String(l.conflicts)) {
      if (l.conflicts > 0) {
        const a = document.createElement('a');
        a.href = '/console/conflicts';
        a.textContent = l.conflicts;
        conflicts.replaceChildren(a);
      } else {
        conflicts.textContent = '0';
      }
      flash(conflicts);
    }
    const may = reviewActions(l.review, l.status === 'final');
    $('.review-actions', tr).hidden = !(may.approve || may.ret);
    $('button.approve', tr).hidden = !may.approve;
    $('.return-box', tr).hidden = !may.ret || l.review === 'returned';
  }

  function filterPersons() {
    const q = $('#person-search').value.trim();
    const f = $('#person-filter').value;
    for (const tr of $('#persons').tBodies[0].rows) {
      const d = tr.dataset;
      const isFinal = d.status === 'final';
      const show =
        (!q || tr.cells[0].textContent.includes(q)) &&
        (!f ||
          (f === 'todo' && (!isFinal || d.review === 'returned')) ||
          (f === 'pending' && isFinal && d.review === 'pending') ||
          (f === 'street_approved' && isFinal && d.review === 'street_approved') ||
          (f === 'returned' && isFinal && d.review === 'returned') ||
          (f === 'conflict' && Number(d.conflicts) > 0));
      tr.hidden = !show;
    }
  }

  async function refreshPersons() {
    const lines = await api(`/api/v1/records?community=${encodeURIComponent(EXTRA.community)}`);
    const byId = new Map(lines.map((l) => [l.person, l]));
    for (const tr of $('#persons').tBodies[0].rows) {
      const l = byId.get(tr.dataset.person);
      if (l) fillPerson(tr, l);
    }
    resort($('#persons'));
    filterPersons();
  }

  function community() {
    const refresh = () => Promise.all([refreshProgress(), refreshPersons()]);
    startLive(refresh);
    $('#person-search').addEventListener('input', filterPersons);
    $('#person-filter').addEventListener('input', filterPersons);
    $('#persons').addEventListener('click', async (ev) => {
      const btn = ev.target.closest('button[data-act]');
      if (!btn) return;
      const tr = btn.closest('tr');
      const msg = $('.msg', tr);
      const input = $('input.comment', tr);
      const decision = btn.dataset.act === 'approve' ? 'approve' : 'return';
      const comment = input.value.trim();
      if (decision === 'return' && !comment) {
        message(msg, T('请填写退回原因', 'Say what to fix'), 'error');
        input.focus();
        return;
      }
      btn.disabled = true;
      try {
        await api(`/api/v1/records/${encodeURIComponent(tr.dataset.person)}/review`, {
          json: { decision, comment: decision === 'return' ? comment : null },
        });
        input.value = '';
        message(msg, decision === 'approve' ? T('已通过', 'Approved') : T('已退回', 'Returned'), 'ok');
        await refresh();
      } catch (e) {
        message(msg, e.message, 'error');
      } finally {
        btn.disabled = false;
      }
    });
  }

  function typedValue(art) {
    const kind = art.dataset.kind;
    const el = $('.typed .input', art);
    const msg = $(':scope > .msg', art);
    const bad = (text) => {
      message(msg, text, 'error');
      return undefined;
    };
    switch (kind) {
      case 'multi':
        return $$('input[type="checkbox"]', el)
          .filter((c) => c.checked)
          .map((c) => c.value);
      case 'yes_no':
        return el.value === '' ? null : el.value === 'true';
      case 'integer': {
        if (el.value.trim() === '') return null;
        const n = Number(el.value);
        return Number.isInteger(n) ? n : bad(T('请输入整数', 'Type a whole number'));
      }
      case 'geo': {
        if (el.value.trim() === '') return null;
        const [lat, lon] = el.value.split(/[,，\s]+/).map(Number);
        return Number.isFinite(lat) && Number.isFinite(lon)
          ? { lat, lon }
          : bad(T('请按“纬度,经度”输入', 'Type “latitude,longitude”'));
      }
      default:
        return el.value.trim() === '' ? null : el.value.trim();
    }
  }

  function conflicts() {
    const list = $('.conflict-list');
    const resolved = new Set();
    const keyOf = (c) => `${c.person_id || c.person}/${c.item}`;
    const updateEmpty = () => {
      $('#no-conflicts').hidden = $$('article.conflict', list).length > 0;
    };
    list.addEventListener('click', async (ev) => {
      const art = ev.target.closest('article.conflict');
      if (!art) return;
      const adopt = ev.target.closest('button.adopt');
      const typed = ev.target.closest('button.adopt-typed');
      if (!adopt && !typed) return;
      const value = adopt ? parse(adopt.dataset.value, null) : typedValue(art);
      if (value === undefined) return;
      const msg = $(':scope > .msg', art);
      const buttons = $$('button', art);
      for (const b of buttons) b.disabled = true;
      message(msg, T('正在提交…', 'Saving…'));
      try {
        await api(
          `/api/v1/conflicts/${encodeURIComponent(art.dataset.person)}/${encodeURIComponent(art.dataset.item)}/resolve`,
          { json: { value } },
        );
        resolved.add(`${art.dataset.person}/${art.dataset.item}`);
        art.remove();
        updateEmpty();
      } catch (e) {
        message(msg, e.message, 'error');
        for (const b of buttons) b.disabled = false;
      }
    });
    startLive(async () => {
      const open = await api('/api/v1/conflicts');
      const keys = new Set(open.map(keyOf));
      for (const art of $$('article.conflict', list)) {
        if (!keys.has(`${art.dataset.person}/${art.dataset.item}`)) art.remove();
      }
      const shown = new Set($$('article.conflict', list).map((a) => `${a.dataset.person}/${a.dataset.item}`));
      const fresh = open.some((c) => !shown.has(keyOf(c)) && !resolved.has(keyOf(c)));
      $('#conflicts-changed').hidden = !fresh;
      updateEmpty();
      setUpdated();
    });
  }

  function exportsPage() {
    $('#copy-report').addEventListener('click', async () => {
      const ta = $('#report');
      try {
        await navigator.clipboard.writeText(ta.value);
      } catch {
        ta.select();
        document.execCommand('copy');
      }
      message($('#copy-msg'), T('已复制', 'Copied'), 'ok');
    });
    startLive(async () => {
      const r = await api('/api/v1/report');
      $('#report').value = r.paragraph;
    });
  }

  // ---------------------------------------------------------------- admin

  function importRoster() {
    const form = $('#import-form');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const file = $('#import-file').files[0];
      if (!file) return;
      const bar = $('#import-progress');
      const status = $('#import-status');
      const out = $('#import-result');
      const button = $('button', form);
      bar.hidden = false;
      bar.value = 0;
      out.replaceChildren();
      message(status, T('正在上传…', 'Uploading…'));
      button.disabled = true;
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `/api/v1/admin/roster?filename=${encodeURIComponent(file.name)}`);
      xhr.withCredentials = true;
      xhr.setRequestHeader('X-Doorstep-Console', '1');
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) bar.value = Math.round((e.loaded * 100) / e.total);
      });
      xhr.upload.addEventListener('load', () => {
        bar.value = 100;
        message(status, T('已上传，正在检查和导入…', 'Uploaded; checking and importing…'));
      });
      xhr.addEventListener('load', () => {
        button.disabled = false;
        bar.hidden = true;
        const data = parse(xhr.responseText, null);
        if (xhr.status === 200 && data) {
          message(
            status,
            T(
              `导入成功：${data.imported} 人（新增 ${data.added}，更新 ${data.updated}，未变 ${data.unchanged}）`,
              `Imported ${data.imported} persons (${data.added} added, ${data.updated} updated, ${data.unchanged} unchanged)`,
            ),
            'ok',
          );
          const box = document.createElement('div');
          if (data.changes && data.changes.length) {
            const h = document.createElement('strong');
            h.textContent = T('变更的信息：', 'Changed facts:');
            const ul = document.createElement('ul');
            ul.id = 'import-changes';
            for (const c of data.changes) {
              const li = document.createElement('li');
              li.textContent = `${c.name} · ${c.field}: ${c.old} → ${c.new}`;
              ul.appendChild(li);
            }
            box.append(h, ul);
          }
          if (data.missing && data.missing.length) {
            const h = document.createElement('strong');
            h.textContent = T(
              `文件中没有的 ${data.missing.length} 人保留在底册，待处理（见“调查年度”）：`,
              `${data.missing.length} persons are not in the file; they stay and await a decision (see Campaigns):`,
            );
            const ul = document.createElement('ul');
            ul.id = 'import-missing';
            for (const m of data.missing) {
              const li = document.createElement('li');
              li.textContent = `${m.name} · ${m.community}`;
              ul.appendChild(li);
            }
            box.append(h, ul);
          }
          out.replaceChildren(box);
          return;
        }
        const text = data && data.error ? data.error.message : `${xhr.status} ${xhr.statusText}`;
        if (xhr.status === 401) {
          location.href = '/console/login?next=/console/admin';
          return;
        }
        const lines = text.split('\n').filter((s) => s.trim());
        message(status, T('未导入任何数据', 'Nothing was imported'), 'error');
        const box = document.createElement('div');
        box.className = 'error-list';
        box.setAttribute('role', 'alert');
        const head = document.createElement('strong');
        head.textContent = lines[0] || text;
        box.appendChild(head);
        if (lines.length > 1) {
          const ul = document.createElement('ul');
          for (const line of lines.slice(1)) {
            const li = document.createElement('li');
            li.textContent = line;
            ul.appendChild(li);
          }
          box.appendChild(ul);
        }
        out.replaceChildren(box);
      });
      xhr.addEventListener('error', () => {
        button.disabled = false;
        bar.hidden = true;
        message(status, T('网络错误，未能上传', 'Network error: the upload failed'), 'error');
      });
      xhr.send(file);
    });
  }

  /** The keyed-in record: the outcome, its note or date when given, final. */
  function keyedChanges(change, outcome) {
    const changes = { outcome: change('outcome', outcome), status: change('status', 'final') };
    const note = $('#keyed-note').value.trim();
    const date = $('#keyed-date').value;
    if (note) changes.outcome_note = change('outcome_note', note);
    if (date && outcome === 'deregistered') changes.deregistered_on = change('deregistered_on', date);
    return changes;
  }

  function keyedEntry() {
    const community = $('#keyed-community');
    const search = $('#keyed-search');
    const select = $('#keyed-person');
    const status = $('#keyed-status');
    let lines = [];
    const render = () => {
      const q = search.value.trim();
      const keep = select.value;
      const opts = lines
        .filter((l) => !q || l.name.includes(q))
        .map((l) => {
          const outcome = l.outcome ? OUTCOMES[l.outcome] || l.outcome : T('未调查', 'no outcome');
          const state = l.status === 'final' ? ` · ${T('已提交', 'submitted')}` : '';
          return new Option(`${l.name} · ${l.id_masked} · ${outcome}${state}`, l.person);
        });
      select.replaceChildren(...opts);
      if (keep) select.value = keep;
      if (!select.value && opts.length === 1) select.value = opts[0].value;
    };
    const load = async () => {
      lines = community.value
        ? await api(`/api/v1/records?community=${encodeURIComponent(community.value)}`)
        : [];
      render();
    };
    community.addEventListener('change', () => load().catch((e) => message(status, e.message, 'error')));
    search.addEventListener('input', render);
    $('#keyed-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const person = select.value;
      const outcome = $('#keyed-outcome').value;
      if (!person || !outcome) {
        message(status, T('请选择调查对象和调查结果', 'Choose a person and an outcome'), 'error');
        return;
      }
      const button = $('button[type="submit"]', ev.target);
      button.disabled = true;
      try {
        const st = await api(`/api/v1/records/${encodeURIComponent(person)}`);
        const change = (k, v) => {
          const c = { value: v };
          if (st.answers[k] !== undefined) c.base = st.answers[k];
          return c;
        };
        const res = await api('/api/v1/sync/push', {
          json: {
            protocol: 1,
            mutations: [
              {
                id: uuidv7(),
                person,
                base_version: st.version,
                hlc: { wall: Date.now(), counter: 0 },
                changes: keyedChanges(change, outcome),
              },
            ],
          },
        });
        const r = res.results[0];
        if (r.status === 'rejected') {
          message(status, r.message || r.code, 'error');
        } else if (Object.values(r.items || {}).includes('conflict')) {
          message(
            status,
            T(
              `${st.person.name}：已提交，但与其他设备的修改冲突，请到“冲突处理”选定结果`,
              `${st.person.name}: saved, but it conflicts with another device's edit; settle it under Conflicts`,
            ),
            'error',
          );
        } else {
          message(status, T(`已提交：${st.person.name} · ${OUTCOMES[outcome]}`, `Submitted: ${st.person.name} · ${OUTCOMES[outcome]}`), 'ok');
        }
        await load();
      } catch (e) {
        message(status, e.message, 'error');
      } finally {
        button.disabled = false;
      }
    });
  }

  function appendRow(table, key, attr, cells) {
    const tbody = table.tBodies[0];
    let tr = $(`tr[${attr}="${CSS.escape(key)}"]`, tbody);
    if (!tr) {
      tr = document.createElement('tr');
      tr.setAttribute(attr, key);
      tbody.appendChild(tr);
    }
    tr.replaceChildren(
      ...cells.map((c) => {
        const td = document.createElement('td');
        td.textContent = c;
        return td;
      }),
    );
    flash(tr);
  }

  function adminForms() {
    const userForm = $('#user-form');
    userForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fd = new FormData(userForm);
      const msg = $('.msg', userForm);
      const body = {
        username: String(fd.get('username')).trim(),
        display_name: String(fd.get('display_name')).trim(),
        role: fd.get('role'),
        area: fd.get('area') || null,
        password: fd.get('password'),
      };
      try {
        await api('/api/v1/admin/users', { json: body });
        const role = userForm.elements.role.selectedOptions[0].textContent;
        appendRow($('#users-table'), body.username, 'data-user', [
          body.username,
          body.display_name,
          role,
          body.area || '',
          T('启用', 'active'),
        ]);
        message(msg, T(`已创建 ${body.username}`, `Created ${body.username}`), 'ok');
        userForm.reset();
      } catch (e) {
        message(msg, e.message, 'error');
      }
    });

    const assignForm = $('#assign-form');
    assignForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fd = new FormData(assignForm);
      const msg = $('.msg', assignForm);
      const body = { community: fd.get('community'), username: fd.get('username') };
      try {
        await api('/api/v1/admin/assignments', { method: 'PUT', json: body });
        const [street, name] = assignForm.elements.community.selectedOptions[0].textContent.split(' · ');
        const worker = assignForm.elements.username.selectedOptions[0].textContent;
        appendRow($('#assignments-table'), body.community, 'data-community', [
          body.community,
          name || '',
          street || '',
          worker,
        ]);
        message(msg, T('已分配', 'Assigned'), 'ok');
      } catch (e) {
        message(msg, e.message, 'error');
      }
    });

    $('#devices-table').addEventListener('click', async (ev) => {
      const btn = ev.target.closest('button.revoke');
      if (!btn) return;
      // Two steps instead of a dialog: the first click asks, the second revokes.
      if (!btn.dataset.armed) {
        btn.dataset.armed = '1';
        btn.textContent = T('确认停用？', 'Really revoke?');
        return;
      }
      btn.disabled = true;
      try {
        await api(`/api/v1/admin/devices/${encodeURIComponent(btn.dataset.device)}/revoke`, { json: {} });
        const tr = btn.closest('tr');
        setText($('.state', tr), T('已停用', 'revoked'));
        btn.remove();
      } catch (e) {
        btn.disabled = false;
        btn.textContent = e.message;
      }
    });
  }

  function admin() {
    importRoster();
    keyedEntry();
    adminForms();
  }

  // ---------------------------------------------------------------- campaigns

  function campaignsPage() {
    for (const form of $$('#open-campaign')) {
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const msg = $('#open-msg', form);
        const f = form.elements;
        const opt = (v) => (v === '' ? null : v);
        const body = {
          district: f.district.value.trim(),
          district_name: f.district_name.value.trim(),
          year: Number(f.year.value),
          title: opt(f.title.value.trim()),
          starts: opt(f.starts.value),
          ends: opt(f.ends.value),
          home_visit_target: f.home_visit_target.value === '' ? null : Number(f.home_visit_target.value),
          from: f.from.value === '' ? null : Number(f.from.value),
          review_levels: f.review_levels ? f.review_levels.value : null,
        };
        const button = $('button', form);
        button.disabled = true;
        message(msg, T('正在开启…', 'Opening…'));
        try {
          const r = await api('/api/v1/admin/campaigns', { json: body });
          message(
            msg,
            T(`已开启：${r.campaign.name}（结转 ${r.carry.carried} 人）`,
              `Opened: ${r.campaign.name} (${r.carry.carried} carried over)`),
            'ok',
          );
          setTimeout(() => location.reload(), 600);
        } catch (e) {
          message(msg, e.message, 'error');
        } finally {
          button.disabled = false;
        }
      });
    }
    const table = $('#campaigns');
    if (table) {
      table.addEventListener('click', async (ev) => {
        const btn = ev.target.closest('button.close');
        if (!btn) return;
        if (!btn.dataset.armed) {
          btn.dataset.armed = '1';
          btn.textContent = T('确认关闭？关闭后不再接收修改', 'Really close? No more edits after');
          return;
        }
        btn.disabled = true;
        try {
          await api(`/api/v1/admin/campaigns/${btn.dataset.year}/close`, { json: {} });
          location.reload();
        } catch (e) {
          btn.disabled = false;
          btn.textContent = e.message;
        }
      });
    }
    const decisions = $('#decisions-table');
    if (decisions) {
      decisions.addEventListener('click', async (ev) => {
        const btn = ev.target.closest('button[data-decision]');
        if (!btn) return;
        const tr = btn.closest('tr');
        const msg = $('.msg', tr);
        const reason = $('input.reason', tr).value.trim();
        try {
          await api(`/api/v1/admin/roster/decisions/${encodeURIComponent(tr.dataset.person)}`, {
            json: { decision: btn.dataset.decision, reason },
          });
          message(msg, btn.dataset.decision === 'keep' ? T('已保留', 'Kept') : T('已移出', 'Removed'), 'ok');
          for (const b of $$('button', tr)) b.disabled = true;
        } catch (e) {
          message(msg, e.message, 'error');
        }
      });
    }
  }

  // ---------------------------------------------------------------- hand-over

  function handoverPage() {
    const table = $('#handover-persons');
    if (!table) return;
    table.addEventListener('click', async (ev) => {
      const btn = ev.target.closest('button[data-keyed]');
      if (!btn) return;
      const tr = btn.closest('tr');
      const msg = $('.msg', tr);
      btn.disabled = true;
      try {
        const mark = await api(`/api/v1/handover/keyed/${encodeURIComponent(tr.dataset.person)}`, {
          json: { keyed: btn.dataset.keyed === 'true' },
        });
        $('td.keyed', tr).textContent = mark
          ? `${T('已录入', 'Keyed')} · ${mark.by} · ${fmtTime(mark.at)}`
          : T('未录入', 'Not keyed');
        btn.dataset.keyed = mark ? 'false' : 'true';
        btn.textContent = mark ? T('撤销标记', 'Unmark') : T('标记已录入', 'Mark keyed');
        $('#keyed-count').textContent = $$('button[data-keyed="false"]', table).length;
        message(msg, T('已保存', 'Saved'), 'ok');
      } catch (e) {
        message(msg, e.message, 'error');
      }
      btn.disabled = false;
    });
  }

  // ---------------------------------------------------------------- analysis

  // The action list by place, stacked by level (the same numbers are in the table under it).
  function analysisPage() {
    const el = $('#chart-actions');
    const data = parse(EXTRA.chart, null);
    if (!el || !data || !window.Chart) return;
    window.Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    const colours = ['#b42318', '#e0702b', '#1f6feb', '#8fb8f0'];
    new window.Chart(el, {
      type: 'bar',
      data: {
        labels: data.labels,
        datasets: data.datasets.map((d, i) => ({ ...d, backgroundColor: colours[i % colours.length] })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: { duration: 250 },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    const list = $('#chart-list');
    if (list) list.addEventListener('change', () => list.form.submit());
  }

  // ---------------------------------------------------------------- review

  // A message that survives the reload after a step (shown at the top of the next page).
  const FLASH = 'doorstep-flash';

  function reloadWith(text) {
    try {
      sessionStorage.setItem(FLASH, text);
    } catch {
      // private mode: the page shows the result anyway
    }
    location.reload();
  }

  function showFlash() {
    let text = null;
    try {
      text = sessionStorage.getItem(FLASH);
      sessionStorage.removeItem(FLASH);
    } catch {
      return;
    }
    const main = $('main.content');
    if (!text || !main) return;
    const p = document.createElement('p');
    p.className = 'notice ok';
    p.id = 'flash';
    p.setAttribute('role', 'status');
    p.textContent = text;
    main.prepend(p);
  }

  /** Runs a form's API call with its button disabled; shows the error in `msg`. */
  async function submitting(form, msg, fn) {
    const buttons = $$('button', form);
    for (const b of buttons) b.disabled = true;
    message(msg, T('正在提交…', 'Saving…'));
    try {
      await fn();
    } catch (e) {
      message(msg, e.message, 'error');
      for (const b of buttons) b.disabled = false;
    }
  }

  function recordPage() {
    const panel = $('#review-panel');
    if (!panel) return;
    const person = panel.dataset.person;
    const msg = $('#review-msg');
    const send = (body) =>
      api(`/api/v1/records/${encodeURIComponent(person)}/review`, { json: body });
    const approve = $('#approve');
    if (approve) {
      approve.addEventListener('click', () =>
        submitting(panel, msg, async () => {
          const r = await send({ decision: 'approve' });
          reloadWith(`${T('已审核通过', 'Approved')}：${REVIEW_LABELS[r.review] || r.review}`);
        }),
      );
    }
    const form = $('#return-form');
    if (form) {
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const comment = form.elements.comment.value.trim();
        if (!comment) {
          message(msg, T('请填写退回原因', 'Say what to fix'), 'error');
          form.elements.comment.focus();
          return;
        }
        const notes = {};
        for (const input of $$('input[data-note-item]')) {
          const v = input.value.trim();
          if (v) notes[input.dataset.noteItem] = v;
        }
        submitting(panel, msg, async () => {
          await send({ decision: 'return', comment, notes });
          const n = Object.keys(notes).length;
          reloadWith(
            n
              ? T(`已退回，附 ${n} 项意见`, `Returned with ${n} item note${n === 1 ? '' : 's'}`)
              : T('已退回', 'Returned'),
          );
        });
      });
    }
  }

  function reviewPage() {
    const draw = $('#draw-sample');
    if (draw) {
      draw.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const f = draw.elements;
        const body = {
          rate_permille: Number(f.rate_permille.value),
          seed: Number(f.seed.value),
          threshold_percent: f.threshold_percent.value === '' ? null : Number(f.threshold_percent.value),
        };
        submitting(draw, $('#draw-msg'), async () => {
          const r = await api('/api/v1/samples/draw', { json: body });
          reloadWith(
            T(`已抽取 ${r.drawn} 条记录（${Object.keys(r.communities).length} 个社区）`,
              `Drew ${r.drawn} records (${Object.keys(r.communities).length} communities)`),
          );
        });
      });
    }
    const samples = $('#samples');
    if (samples) {
      samples.addEventListener('change', (ev) => {
        const form = ev.target.closest('form.check');
        if (!form) return;
        const f = form.elements;
        const chosen = Array.from(f.differing.selectedOptions).length > 0;
        if (ev.target === f.differing && chosen) f.confirmed.checked = false;
        if (ev.target === f.confirmed && f.confirmed.checked) {
          for (const o of f.differing.options) o.selected = false;
        }
        f.confirmed.disabled = !f.reached.checked;
        f.differing.disabled = !f.reached.checked;
      });
      samples.addEventListener('submit', (ev) => {
        const form = ev.target.closest('form.check');
        if (!form) return;
        ev.preventDefault();
        const f = form.elements;
        const reached = f.reached.checked;
        const body = {
          checker: f.checker.value.trim(),
          method: f.method.value,
          reached,
          confirmed: reached && f.confirmed.checked,
          differing: reached ? Array.from(f.differing.selectedOptions, (o) => o.value) : [],
          note: f.note.value.trim(),
        };
        const person = form.closest('tr').dataset.person;
        submitting(form, $('.msg', form), async () => {
          await api(`/api/v1/samples/${encodeURIComponent(person)}/check`, { json: body });
          reloadWith(T('核查结果已保存', 'The check is saved'));
        });
      });
    }
    const cases = $('#follow-ups');
    if (cases) {
      cases.addEventListener('change', (ev) => {
        const form = ev.target.closest('form.case');
        if (!form || ev.target.name !== 'decision') return;
        const transfer = ev.target.value === 'transferred';
        $('label.county', form).hidden = !transfer;
        form.elements.county.required = transfer;
      });
      cases.addEventListener('submit', (ev) => {
        const form = ev.target.closest('form.case');
        if (!form) return;
        ev.preventDefault();
        const f = form.elements;
        const decision = f.decision.value;
        const body = {
          decision,
          county: decision === 'transferred' ? f.county.value.trim() : null,
          decided_on: f.decided_on.value,
          note: f.note.value.trim(),
        };
        const person = form.closest('tr').dataset.person;
        submitting(form, $('.msg', form), async () => {
          await api(`/api/v1/follow-ups/${encodeURIComponent(person)}`, { json: body });
          reloadWith(T('处理结果已保存', 'The decision is saved'));
        });
      });
    }
  }

  // ---------------------------------------------------------------- start

  for (const t of $$('table.sortable')) initSortable(t);
  const pages = {
    overview,
    community,
    conflicts,
    exports: exportsPage,
    handover: handoverPage,
    admin,
    campaigns: campaignsPage,
    analysis: analysisPage,
    record: recordPage,
    review: reviewPage,
  };
  showFlash();
  if (pages[page]) pages[page]();
})();
