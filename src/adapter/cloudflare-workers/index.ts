/**
 * Cloudflare Workers entry: the Hono app, with routing state in memory per isolate (Durable Objects replace
 * this when the ROUTER_STATE binding is present).
 */
import { createApp } from '../../app'
import { MemoryStateStore } from '../../state/memory'

const memory = new MemoryStateStore()

export default createApp({ stateStore: () => memory })
