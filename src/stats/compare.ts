/**
 * Comparing experiment arms with numbers a user can trust: per arm its error rate, failover rate, mean latency, mean
 * time to first token and cost per request, and against the first arm (the control) the difference with a 95 %
 * confidence interval — Wald's for proportions, Welch's normal approximation for means (fine at the request counts an
 * A/B test needs; with few requests the interval is wide, and says so). `significant`: the interval excludes 0.
 */
import type { Counters } from './rollup'

export interface Estimate {
  value: number | null
  n: number
}

export interface Difference {
  /** This arm minus the control. */
  diff: number | null
  ci95: [number, number] | null
  significant: boolean
}

export interface ArmStats {
  arm: string
  requests: number
  errorRate: Estimate
  failoverRate: Estimate
  meanLatencyMs: Estimate
  meanTtftMs: Estimate
  costPerRequestUsd: Estimate
  /** Against the control arm (absent for the control itself). */
  vsControl?: { control: string; errorRate: Difference; failoverRate: Difference; meanLatencyMs: Difference; meanTtftMs: Difference; costPerRequestUsd: Difference }
}

const Z95 = 1.959963984540054

interface Moments {
  n: number
  mean: number
  variance: number
}

function proportion(k: number, n: number): Moments {
  const p = n ? k / n : 0
  return { n, mean: p, variance: p * (1 - p) }
}

function meanOf(sum: number, sumSq: number, n: number): Moments {
  if (!n) return { n: 0, mean: 0, variance: 0 }
  const mean = sum / n
  return { n, mean, variance: n > 1 ? Math.max(0, (sumSq - n * mean * mean) / (n - 1)) : 0 }
}

function difference(a: Moments, control: Moments): Difference {
  if (!a.n || !control.n) return { diff: null, ci95: null, significant: false }
  const diff = a.mean - control.mean
  const se = Math.sqrt(a.variance / a.n + control.variance / control.n)
  const ci95: [number, number] = [diff - Z95 * se, diff + Z95 * se]
  return { diff, ci95, significant: ci95[0] > 0 || ci95[1] < 0 }
}

function estimate(m: Moments): Estimate {
  return { value: m.n ? m.mean : null, n: m.n }
}

/** Arms in the order given; the first is the control. */
export function compareArms(arms: Array<{ arm: string; c: Counters }>): ArmStats[] {
  const moments = arms.map(({ arm, c }) => {
    const ttftN = Object.values(c.ttft).reduce((s, x) => s + x, 0)
    return {
      arm,
      requests: c.requests,
      errorRate: proportion(c.errors + c.routerThrottles, c.requests),
      failoverRate: proportion(Math.min(c.failovers, c.requests), c.requests),
      meanLatencyMs: meanOf(c.latencySum ?? 0, c.latencySumSq ?? 0, c.requests),
      meanTtftMs: meanOf(c.ttftSum ?? 0, c.ttftSumSq ?? 0, ttftN),
      costPerRequestUsd: meanOf(c.costUsd, c.costSumSq ?? 0, c.requests),
    }
  })
  const control = moments[0]
  return moments.map((m, i) => ({
    arm: m.arm,
    requests: m.requests,
    errorRate: estimate(m.errorRate),
    failoverRate: estimate(m.failoverRate),
    meanLatencyMs: estimate(m.meanLatencyMs),
    meanTtftMs: estimate(m.meanTtftMs),
    costPerRequestUsd: estimate(m.costPerRequestUsd),
    ...(i > 0 && control
      ? {
          vsControl: {
            control: control.arm,
            errorRate: difference(m.errorRate, control.errorRate),
            failoverRate: difference(m.failoverRate, control.failoverRate),
            meanLatencyMs: difference(m.meanLatencyMs, control.meanLatencyMs),
            meanTtftMs: difference(m.meanTtftMs, control.meanTtftMs),
            costPerRequestUsd: difference(m.costPerRequestUsd, control.costPerRequestUsd),
          },
        }
      : {}),
  }))
}
