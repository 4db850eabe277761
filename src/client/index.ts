/**
 * `bedrock-edge-router/client`: routing inside a process. `createRouter(options)` runs the worker's engine in this
 * process (state in memory): Converse and ConverseStream in the AWS SDK's shapes, CountTokens, any front door through
 * `fetch`, health, stats and hooks.
 */
export { createRouter } from './router'
export type { ConverseInput, ConverseOutput, ConverseStreamEvent, ConverseStreamOutput, DeploymentHealth, DeploymentInput, HealthStatus, RequestOptions, Router, RouterEventName, RouterOptions, RouterStats } from './router'
export { RouterError, type ResponseMetadata, type RouterTrace } from './shapes'
export type { BearerToken, CredentialSource, CredentialsOption, StaticKeys } from './credentials'
export { ConfigError } from '../config/schema'
export type { FailoverEvent, RequestEvent } from '../stats/rollup'
export type { CustomStrategyAnswer, CustomStrategyFunction, CustomStrategyInput } from '../policy/custom'
