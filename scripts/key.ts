/**
 * `npm run key -- new --name team-a --pools sonnet,haiku --rpm 100 [--tpm N] [--front-doors openai,anthropic]
 * [--budget-day USD] [--budget-month USD] [--team T] [--mint]`: prints a new client key (shown once: store it) and the
 * entry for `clients.keys` in ROUTER_CONFIG, which holds only the key's SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto'

function main(argv: string[]) {
  const [command, ...rest] = argv
  if (command !== 'new') {
    console.error('usage: npm run key -- new --name NAME [--pools a,b] [--front-doors bedrock,openai,anthropic] [--rpm N] [--tpm N] [--budget-day USD] [--budget-month USD] [--team T] [--mint]')
    process.exit(2)
  }
  const opts = new Map<string, string | true>()
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]
    if (!a.startsWith('--')) fail(`unexpected argument ${a}`)
    const next = rest[i + 1]
    if (next === undefined || next.startsWith('--')) opts.set(a.slice(2), true)
    else opts.set(a.slice(2), (i++, next))
  }
  const name = opts.get('name')
  if (typeof name !== 'string' || !/^[A-Za-z0-9._:@-]{1,64}$/.test(name)) fail('--name is required: letters, digits and . _ : @ - (at most 64)')
  const key = `ber_${randomBytes(24).toString('base64url')}`
  const entry: Record<string, unknown> = { name, sha256: createHash('sha256').update(key).digest('hex') }
  const list = (flag: string) => (typeof opts.get(flag) === 'string' ? (opts.get(flag) as string).split(',').map((s) => s.trim()).filter(Boolean) : undefined)
  const num = (flag: string, integer: boolean) => {
    const v = opts.get(flag)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) fail(`--${flag} must be a ${integer ? 'whole ' : ''}number ≥ 0`)
    return n
  }
  if (list('pools')) entry.pools = list('pools')
  if (list('front-doors')) entry.frontDoors = list('front-doors')
  if (num('rpm', true) !== undefined) entry.rpm = num('rpm', true)
  if (num('tpm', true) !== undefined) entry.tpm = num('tpm', true)
  if (num('budget-day', false) !== undefined) entry.budgetUsdPerDay = num('budget-day', false)
  if (num('budget-month', false) !== undefined) entry.budgetUsdPerMonth = num('budget-month', false)
  if (typeof opts.get('team') === 'string') entry.team = opts.get('team')
  if (opts.get('mint')) entry.mint = true
  console.log(`key (shown once; give it to the client, keep it out of config and logs):\n  ${key}\n`)
  console.log(`entry for ROUTER_CONFIG clients.keys:\n  ${JSON.stringify(entry)}`)
}

function fail(message: string): never {
  console.error(message)
  process.exit(2)
}

main(process.argv.slice(2))
