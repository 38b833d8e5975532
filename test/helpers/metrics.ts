// Reading GET /metrics in tests: the samples of Prometheus's text format.

import type { FastifyInstance } from 'fastify'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** The samples of the exposition text (comments skipped). */
export function parse (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value
    samples.push({ name: match[1], labels, value: Number(match[3]) })
  }
  return samples
}

export async function scrape (app: FastifyInstance): Promise<Sample[]> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}`)
  return parse(res.body)
}

/** The value of the one sample named `name` whose labels include `labels` (0 when there is none). */
export function valueOf (samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const sample = samples.find(candidate => candidate.name === name && Object.entries(labels).every(([key, value]) => candidate.labels[key] === value))
  return sample?.value ?? 0
}
