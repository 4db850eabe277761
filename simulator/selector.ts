/** Region / model / operation matching shared by fault rules, quotas and unknown-model lists. */
import type { Operation, Selector } from './types'

export function modelMatches(pattern: string | undefined, modelId: string): boolean {
  if (pattern === undefined) return true
  return pattern.endsWith('*') ? modelId.startsWith(pattern.slice(0, -1)) : pattern === modelId
}

export function selects(sel: Selector, region: string, modelId: string, operation?: Operation): boolean {
  if (sel.region !== undefined && sel.region !== region) return false
  if (!modelMatches(sel.modelId, modelId)) return false
  return sel.operation === undefined || operation === undefined || sel.operation === operation
}
