import t from 'tap'
import { join } from 'node:path'
import { availableParallelism } from 'node:os'
import { cpuQuota } from '../../../lib/config/cpu-quota'

const cores = availableParallelism()

t.test('reads cgroup v2 cpu.max', async t => {
  const dir = t.testdir({
    unlimited: 'max 100000\n',
    oneAndAHalf: '150000 100000\n',
    half: '50000 100000',
    many: `${(cores + 8) * 100000} 100000`,
    one: '100000 100000',
    garbage: 'not a quota',
    zero: '0 100000',
    noPeriod: '150000',
    empty: ''
  })
  t.equal(cpuQuota(join(dir, 'unlimited')), cores, 'no quota: every core')
  t.equal(cpuQuota(join(dir, 'oneAndAHalf')), Math.min(2, cores), '1.5 CPUs round up to 2, capped by the cores')
  t.equal(cpuQuota(join(dir, 'half')), 1, 'half a CPU still gets one thread')
  t.equal(cpuQuota(join(dir, 'one')), 1)
  t.equal(cpuQuota(join(dir, 'many')), cores, 'a quota above the cores is capped')
  t.equal(cpuQuota(join(dir, 'garbage')), cores)
  t.equal(cpuQuota(join(dir, 'zero')), cores)
  t.equal(cpuQuota(join(dir, 'noPeriod')), cores)
  t.equal(cpuQuota(join(dir, 'empty')), cores)
  t.equal(cpuQuota(join(dir, 'missing')), cores, 'no cgroup file: every core')
  t.equal(cpuQuota(dir), cores, 'a folder is no quota either')
})

t.test('the default path never throws', async t => {
  const cpus = cpuQuota()
  t.ok(Number.isInteger(cpus) && cpus >= 1 && cpus <= cores, `${cpus} within 1..${cores}`)
})
