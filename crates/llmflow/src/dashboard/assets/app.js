// llmflow dashboard (minimal): totals, a filtered traces table, live updates, a detail view.
const $ = (s) => document.querySelector(s);
const fmt = {
  n: (v) => (v == null ? '–' : Number(v).toLocaleString()),
  cost: (v) => (v == null ? 'unpriced' : '$' + Number(v).toFixed(6)),
  ms: (v) => (v == null ? '–' : Math.round(v) + ' ms'),
  time: (ms) => new Date(ms).toLocaleTimeString(),
};

function filters() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData($('#filters'))) if (v) p.set(k, v);
  return p;
}

function row(t) {
  const tr = document.createElement('tr');
  tr.tabIndex = 0;
  tr.dataset.id = t.id;
  const cells = [fmt.time(t.timestamp), t.span_type, t.model ?? '–', fmt.n(t.total_tokens),
    fmt.cost(t.estimated_cost), fmt.ms(t.duration_ms), fmt.ms(t.ttft_ms), t.status ?? (t.error_kind || '–')];
  for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
  if (t.is_error) tr.classList.add('err');
  tr.addEventListener('click', () => showDetail(t.id));
  return tr;
}

async function load() {
  const res = await fetch('/api/traces?' + filters());
  const data = await res.json();
  const body = $('#traces tbody');
  body.replaceChildren(...data.traces.map(row));
  $('#empty').hidden = data.total > 0;
}

async function loadStats() {
  const s = await (await fetch('/api/stats')).json();
  showStats(s);
}

function showStats(s) {
  $('#t-requests').textContent = fmt.n(s.total_requests);
  $('#t-tokens').textContent = fmt.n(s.total_tokens);
  $('#t-cost').textContent = '$' + Number(s.total_cost).toFixed(4);
  $('#t-latency').textContent = fmt.ms(s.avg_latency);
  $('#t-ttft').textContent = fmt.ms(s.avg_ttft);
}

async function showDetail(id) {
  const d = await (await fetch('/api/traces/' + encodeURIComponent(id))).json();
  const pre = $('#detail');
  pre.textContent = JSON.stringify(d, null, 2);
  pre.hidden = false;
}

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.onopen = () => $('#conn').classList.add('live');
  ws.onclose = () => { $('#conn').classList.remove('live'); setTimeout(connect, 2000); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'new_span' && ![...filters().keys()].length) {
      $('#traces tbody').prepend(row(m.payload));
      $('#empty').hidden = true;
    } else if (m.type === 'stats_update') {
      showStats(m.payload);
    }
  };
}

$('#filters').addEventListener('input', () => load());
load(); loadStats(); connect();
