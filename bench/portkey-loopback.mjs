// Preload for Portkey's Node server (`node --import ./bench/portkey-loopback.mjs …/start-server.js --port=N`):
// its server listens on every interface; the benchmarks stay on 127.0.0.1, so every listen() is pinned there.
// Also silences its console (it clears the screen and logs every request).
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    const port = args[0]
    const rest = args.slice(1).filter((a) => typeof a === 'function')
    return listen.call(this, { port: Number(port), host: '127.0.0.1' }, ...rest)
  }
  if (args[0] && typeof args[0] === 'object' && !('fd' in args[0]) && !('path' in args[0])) {
    return listen.call(this, { ...args[0], host: '127.0.0.1' }, ...args.slice(1))
  }
  return listen.apply(this, args)
}
if (!process.env.BENCH_PORTKEY_VERBOSE) {
  for (const k of ['log', 'info', 'debug', 'clear']) console[k] = () => {}
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = (chunk, ...rest) => (String(chunk).startsWith('PORTKEY-READY') ? write(chunk, ...rest) : true)
}
