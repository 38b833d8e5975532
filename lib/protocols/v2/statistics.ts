// The statistics extension's answer (Triton's GET .../stats), a view of the
// data plane's statistics: batch sizes in order, versions as strings.

import { BATCH_STAGES, INFERENCE_STAGES, type VersionStatistics } from '../../stats/model-statistics'
import type { ModelStatisticsResponse } from './wire'

export function modelStatistics (statistics: VersionStatistics[]): ModelStatisticsResponse {
  return {
    model_stats: statistics.map(stats => ({
      name: stats.name,
      version: String(stats.version),
      last_inference: stats.lastInference,
      inference_count: stats.inferenceCount,
      execution_count: stats.executionCount,
      inference_stats: Object.fromEntries(INFERENCE_STAGES.map(stage => [stage, { ...stats.inference[stage] }])) as ModelStatisticsResponse['model_stats'][number]['inference_stats'],
      batch_stats: Object.entries(stats.batches).map(([size, batch]) => ({
        batch_size: Number(size),
        ...Object.fromEntries(BATCH_STAGES.map(stage => [stage, { ...batch[stage] }])) as Record<typeof BATCH_STAGES[number], { count: number, ns: number }>
      })).sort((a, b) => a.batch_size - b.batch_size)
    }))
  }
}
