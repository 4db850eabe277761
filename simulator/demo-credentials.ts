/** Credentials the simulator accepts by default (demo mode and tests). Not secrets: they only work here. */
import type { Credential } from './types'

export const DEMO_ACCESS_KEY_ID = 'AKIDSIMULATOR00000001'
export const DEMO_SECRET_ACCESS_KEY = 'simulator/SECRET/key0000000000000000000000'
export const DEMO_API_KEY = 'bedrock-api-key-SIMULATORDEMOKEY0000000000000001'

export const DEMO_CREDENTIALS: Record<string, Credential> = {
  [DEMO_ACCESS_KEY_ID]: { secretAccessKey: DEMO_SECRET_ACCESS_KEY },
}
export const DEMO_API_KEYS: string[] = [DEMO_API_KEY]
