/**
 * GET /playground: a page to try the router from a browser — paste a key or token, pick a pool and a front door
 * (Bedrock ConverseStream as SSE, OpenAI chat completions, Anthropic Messages), send a prompt and watch the answer
 * stream in with the router's decision (deployment, region, reason, attempts, failovers) and the usage. It calls
 * the router given as `?router=` (default: its own origin), so it also works when hosted on another origin that
 * ROUTER_CORS_ORIGINS allows. No credential is stored: the key stays in the page's memory.
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'

export const playgroundRoutes = new Hono<AppEnv>()

playgroundRoutes.get('/playground', (c) => c.html(PAGE, 200, { 'cache-control': 'no-store' }))

const PAGE = `<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content="width=device-width">
<title>Bedrock edge router · playground</title>
<style>body{font:14px system-ui,sans-serif;max-width:780px;margin:2em auto;padding:0 1em}label{display:block;margin:.6em 0}
input,select,textarea{width:100%;box-sizing:border-box;font:inherit;padding:.3em}button{font:inherit;padding:.3em 1em}
pre{white-space:pre-wrap;background:#f4f4f4;padding:1em;min-height:3em}td{padding:.1em .6em;vertical-align:top}td:first-child{color:#666}</style>
<h1>Playground</h1>
<label>Router <input id=router></label>
<label>Key or token <input id=key type=password autocomplete=off></label>
<label>Pool <select id=pool></select></label><button id=load>Load pools</button>
<label>Front door <select id=door><option value=bedrock>Bedrock ConverseStream (SSE)</option><option value=openai>OpenAI chat completions</option><option value=anthropic>Anthropic Messages</option></select></label>
<label>Prompt <textarea id=prompt rows=3>Hello!</textarea></label><button id=send>Send</button>
<pre id=out></pre><table id=trace></table>
<script>
const $ = (id) => document.getElementById(id)
$('router').value = new URLSearchParams(location.search).get('router') || location.origin
const auth = () => ({ authorization: 'Bearer ' + $('key').value.trim() })
const show = (rows) => { $('trace').replaceChildren(...rows.filter((r) => r[1]).map(([k, v]) => { const tr = document.createElement('tr'); for (const x of [k, v]) { const td = document.createElement('td'); td.textContent = x; tr.append(td) } return tr })) }
$('load').onclick = async () => {
  const res = await fetch($('router').value + '/v1/models', { headers: auth() })
  const body = await res.json()
  if (!res.ok) { $('out').textContent = 'HTTP ' + res.status + ': ' + (body.error && body.error.message); return }
  $('pool').replaceChildren(...body.data.filter((m) => m.owned_by === 'bedrock-edge-router').map((m) => new Option(m.id, m.id)))
}
const requests = {
  bedrock: (pool, text) => ['/model/' + encodeURIComponent(pool) + '/converse-stream', { accept: 'text/event-stream' }, { messages: [{ role: 'user', content: [{ text }] }] }],
  openai: (pool, text) => ['/v1/chat/completions', {}, { model: pool, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: text }] }],
  anthropic: (pool, text) => ['/v1/messages', { 'anthropic-version': '2023-06-01' }, { model: pool, max_tokens: 1024, stream: true, messages: [{ role: 'user', content: text }] }],
}
function onEvent(door, name, data, out) {
  if (data === '[DONE]') return
  const e = JSON.parse(data)
  if (name === 'error' || e.error) { out.error = (e.error && e.error.message) || e.message || data; return }
  if (door === 'bedrock') { if (name === 'contentBlockDelta' && e.delta.text) out.text += e.delta.text; if (name === 'metadata') out.usage = e.usage.inputTokens + ' in, ' + e.usage.outputTokens + ' out' }
  if (door === 'openai') { const c = e.choices && e.choices[0]; if (c && c.delta.content) out.text += c.delta.content; if (e.usage) out.usage = e.usage.prompt_tokens + ' in, ' + e.usage.completion_tokens + ' out' }
  if (door === 'anthropic') { if (e.type === 'content_block_delta' && e.delta.text) out.text += e.delta.text; if (e.type === 'message_delta' && e.usage) out.usage = (e.usage.input_tokens || 0) + ' in, ' + e.usage.output_tokens + ' out' }
}
$('send').onclick = async () => {
  const door = $('door').value
  const [path, headers, body] = requests[door]($('pool').value, $('prompt').value)
  $('out').textContent = ''
  const started = performance.now()
  const res = await fetch($('router').value + path, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const h = (n) => res.headers.get(n)
  const trace = () => show([['status', String(res.status)], ['deployment', h('x-router-deployment')], ['region', h('x-router-region')], ['model', h('x-router-model')], ['pool', h('x-router-pool')], ['strategy', h('x-router-strategy')], ['reason', h('x-router-reason')], ['attempts', h('x-router-attempts')], ['failovers', h('x-router-failovers')], ['usage', out.usage], ['time', Math.round(performance.now() - started) + ' ms']])
  const out = { text: '', usage: '', error: '' }
  trace()
  if (!res.ok) { $('out').textContent = 'HTTP ' + res.status + ': ' + (await res.text()); return }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += value
    let end
    while ((end = buffer.indexOf('\\n\\n')) >= 0) {
      const block = buffer.slice(0, end); buffer = buffer.slice(end + 2)
      let name = 'message', data = ''
      for (const line of block.split('\\n')) { if (line.startsWith('event:')) name = line.slice(6).trim(); else if (line.startsWith('data:')) data += line.slice(5).trim() }
      if (data) onEvent(door, name, data, out)
    }
    $('out').textContent = out.text + (out.error ? '\\n[error] ' + out.error : '')
  }
  trace()
}
</script>`
