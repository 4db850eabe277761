/**
 * GET /dashboard: the router at a glance, drawn in the browser from the admin endpoints — per-deployment health and
 * load (/health/deployments), cost over time by model and cost and tokens by client, latency percentiles per
 * deployment, recent failovers with their reasons (/stats). The page holds no data and no credential: the admin key
 * is typed in and kept in the tab's memory. Charts are hand-drawn SVG (no library in the bundle); each bar carries its
 * figures as data-* attributes, so what the page shows can be checked against /stats.
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'

export const dashboardRoutes = new Hono<AppEnv>()

dashboardRoutes.get('/dashboard', (c) => c.html(PAGE, 200, { 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" }))

const PAGE = `<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content="width=device-width">
<title>Bedrock edge router · dashboard</title>
<style>body{font:13px system-ui,sans-serif;margin:1em 2em;color:#222}h2{font-size:15px;margin:1.4em 0 .4em}
table{border-collapse:collapse}td,th{padding:.15em .6em;text-align:right;border-bottom:1px solid #eee}td:first-child,th:first-child{text-align:left}
.bad{color:#b00}.warn{color:#a60}.ok{color:#070}svg{display:block;margin:.3em 0}#legend span{margin-right:1em}#legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em}</style>
<h1>Dashboard</h1>
<p><input id=key type=password placeholder="admin key" autocomplete=off> <select id=since><option>1h</option><option selected>24h</option><option>7d</option></select>
<button id=load>Load</button> <span id=status></span></p>
<h2>Deployments now</h2><table id=health></table>
<h2>Cost over time, by model (USD per hour)</h2><svg id=cost-by-model width=760 height=180></svg><div id=legend></div>
<h2>Cost and tokens by client</h2><svg id=by-client width=900 height=20></svg>
<h2>Latency by deployment (ms: p50, p95, p99; time to first token p50)</h2><svg id=latency width=900 height=20></svg>
<h2>Recent failovers</h2><table id=failovers></table>
<script>
const $ = (id) => document.getElementById(id)
const NS = 'http://www.w3.org/2000/svg'
const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f']
const el = (tag, attrs = {}, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e }
const row = (cells, head) => { const tr = document.createElement('tr'); for (const c of cells) { const td = document.createElement(head ? 'th' : 'td'); if (c && typeof c === 'object') { td.textContent = c.text; td.className = c.cls || '' } else td.textContent = c ?? ''; tr.append(td) } return tr }
const usd = (n) => '$' + (n < 0.01 ? n.toPrecision(3) : n.toFixed(4))
const pct = (n) => n === null || n === undefined ? '' : Math.round(n * 100) + '%'
async function get(path) {
  const res = await fetch(path, { headers: { authorization: 'Bearer ' + $('key').value.trim() } })
  const body = await res.json()
  if (!res.ok) throw new Error('HTTP ' + res.status + ': ' + (body.error && body.error.message))
  return body
}
function health(h) {
  $('health').replaceChildren(row(['deployment', 'pool', 'region', 'state', 'breaker', 'req/min', 'errors/min', 'rpm use', 'tpm use', 'req/h', 'throttles/h', 'p50 ms', 'p95 ms', 'ttft p50'], true),
    ...h.deployments.map((d) => { const tr = row([d.id, d.pool, d.region, { text: d.usable ? (d.preferred ? 'ok' : 'degraded: ' + d.why) : 'out: ' + d.why, cls: d.usable ? (d.preferred ? 'ok' : 'warn') : 'bad' }, d.breaker, d.lastMinute.requests, d.lastMinute.failures, pct(d.windowUse.rpm), pct(d.windowUse.tpm), d.lastHour.requests, d.lastHour.upstreamThrottles, d.lastHour.latencyMs && d.lastHour.latencyMs.p50, d.lastHour.latencyMs && d.lastHour.latencyMs.p95, d.lastHour.ttftMs && d.lastHour.ttftMs.p50]); tr.dataset.deployment = d.id; tr.dataset.throttles = d.lastHour.upstreamThrottles; return tr }))
}
function costByModel(s) {
  const svg = $('cost-by-model'); svg.replaceChildren()
  const periods = [...new Set(s.groups.map((g) => g.period))].sort()
  const models = [...new Set(s.groups.map((g) => g.keys.model))].filter((m) => m !== '-')
  const totals = periods.map((p) => s.groups.filter((g) => g.period === p).reduce((a, g) => a + g.costUsd, 0))
  const max = Math.max(1e-9, ...totals), W = 760, H = 150, bw = Math.max(4, Math.min(40, (W - 60) / Math.max(1, periods.length) - 4))
  svg.append(el('text', { x: 0, y: 12 }, usd(max)), el('line', { x1: 55, y1: H, x2: W, y2: H, stroke: '#999' }))
  periods.forEach((p, i) => {
    let y = H
    models.forEach((m, j) => {
      const g = s.groups.find((g) => g.period === p && g.keys.model === m); if (!g || !g.costUsd) return
      const h = (g.costUsd / max) * (H - 10); y -= h
      const r = el('rect', { x: 60 + i * (bw + 4), y, width: bw, height: Math.max(h, 0.5), fill: COLOURS[j % COLOURS.length], 'data-model': m, 'data-period': p, 'data-cost': g.costUsd, 'data-requests': g.requests })
      r.append(el('title', {}, m + ' · ' + p.slice(0, 13) + 'h · ' + usd(g.costUsd) + ' · ' + g.requests + ' requests')); svg.append(r)
    })
    svg.append(el('text', { x: 60 + i * (bw + 4), y: H + 14, 'font-size': 9 }, p.slice(11, 13) + 'h'))
  })
  $('legend').replaceChildren(...models.map((m, j) => { const s = document.createElement('span'); const i = document.createElement('i'); i.style.background = COLOURS[j % COLOURS.length]; s.append(i, m); return s }))
}
function bars(svg, items, label, figures) {
  svg.replaceChildren(); svg.setAttribute('height', items.length * 22 + 4)
  const max = Math.max(1e-12, ...items.map((x) => Math.max(...figures(x).map((f) => f.value))))
  items.forEach((x, i) => {
    svg.append(el('text', { x: 0, y: i * 22 + 15 }, label(x)))
    figures(x).forEach((f, k) => { const r = el('rect', { x: 220, y: i * 22 + 3 + k * (16 / figures(x).length), width: Math.max(1, (f.value / max) * 380), height: 16 / figures(x).length, fill: COLOURS[k], ...f.data }); r.append(el('title', {}, f.text)); svg.append(r) })
    svg.append(el('text', { x: 610, y: i * 22 + 15 }, figures(x).map((f) => f.text).join(' · ')))
  })
}
async function load() {
  $('status').textContent = 'loading…'
  try {
    const since = $('since').value
    const [h, byModel, byClient, byDeployment] = await Promise.all([get('/health/deployments'), get('/stats?since=' + since + '&by=model&bucket=hour'), get('/stats?since=' + since + '&by=client'), get('/stats?since=' + since + '&by=deployment')])
    health(h); costByModel(byModel)
    bars($('by-client'), byClient.groups, (g) => g.keys.client, (g) => [{ value: g.costUsd, text: usd(g.costUsd), data: { 'data-client': g.keys.client, 'data-cost': g.costUsd, 'data-tokens': g.tokens.input + g.tokens.output + g.tokens.cacheRead + g.tokens.cacheWrite, 'data-requests': g.requests } }])
    const served = byDeployment.groups.filter((g) => g.keys.deployment !== '-' && g.latencyMs.p50 !== null)
    bars($('latency'), served, (g) => g.keys.deployment, (g) => [['p50', g.latencyMs.p50], ['p95', g.latencyMs.p95], ['p99', g.latencyMs.p99]].map(([k, v]) => ({ value: v, text: k + ' ' + v, data: { 'data-deployment': g.keys.deployment, 'data-quantile': k, 'data-ms': v } })).concat(g.ttftMs.p50 === null ? [] : [{ value: g.ttftMs.p50, text: 'ttft ' + g.ttftMs.p50, data: { 'data-deployment': g.keys.deployment, 'data-quantile': 'ttft-p50', 'data-ms': g.ttftMs.p50 } }]))
    $('failovers').replaceChildren(row(['when', 'pool', 'from', 'why', 'served by'], true), ...byDeployment.recentFailovers.map((f) => row([new Date(f.at).toLocaleTimeString(), f.pool, f.from, f.class + (f.errorType ? ' (' + f.errorType + ')' : ''), f.servedBy || 'nothing'])))
    $('status').textContent = 'as of ' + new Date().toLocaleTimeString() + ' · ' + byModel.total.requests + ' requests · ' + usd(byModel.total.costUsd)
    document.body.dataset.loaded = 'true'
  } catch (e) { $('status').textContent = String(e.message || e) }
}
$('load').onclick = load
$('key').onkeydown = (e) => { if (e.key === 'Enter') load() }
</script>`
