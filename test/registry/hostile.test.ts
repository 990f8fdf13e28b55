// kit pull against a hostile registry (test/support/hostile-registry.ts): oversized and endless
// manifests, pagination loops, redirect loops, slow drips, bad descriptors, a long Retry-After.
// Each pull must end with exit 1 and one line naming the reference, under 200 MB of RSS
// (/usr/bin/time's maximum resident set). No timing assertion: a generous kill timer is only a
// safety net.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {kitBin} from '../support/paths.js'
import {startHostileRegistry, type HostileRegistry} from '../support/hostile-registry.js'
import {checkStore} from '../support/store-check.js'

interface Outcome {
  code: number
  lines: string[]
  maxRssKiB: number
}

function pullMeasured(ref: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'KIT_TEST_MAXRSS %M', process.execPath, kitBin, 'pull', ref, '--plain-http', '--quiet'], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    child.stdout.resume()
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000) // a safety net, not an assertion
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const lines = stderr.split('\n').filter((l) => l.trim() !== '')
      const rss = lines.find((l) => l.startsWith('KIT_TEST_MAXRSS '))
      // /usr/bin/time reports the child's exit status itself ("Command exited with non-zero status 1").
      resolve({code: code ?? -1, lines: lines.filter((l) => !l.startsWith('KIT_TEST_MAXRSS ') && !l.startsWith('Command exited')), maxRssKiB: Number(rss?.split(' ')[1] ?? NaN)})
    })
  })
}

describe('kit pull against a hostile registry: bounded memory, one line naming the reference', function () {
  this.timeout(300_000)
  let hostile: HostileRegistry
  let dir: string
  let env: NodeJS.ProcessEnv

  before(async () => {
    hostile = await startHostileRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-hostile-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json'), DOCKER_CONFIG: join(dir, 'docker'), CI: '1'}
  })
  after(async () => {
    await hostile?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  const cases: Array<[string, string, RegExp]> = [
    ['a manifest whose HEAD claims 8 GiB, with a never-ending body', 'huge/x:1.0.0', /over the limit of 4194304 bytes/],
    ['a manifest with no size and a never-ending body', 'endless/x:1.0.0', /larger than 4194304 bytes/],
    ['a manifest whose HEAD claims a small size, then a never-ending body', 'lying/x:1.0.0', /larger than 4194304 bytes/],
    ['a tag list whose Link loops back to the same page', 'loop/x@^0', /Link header loops back/],
    ['a tag list with new pages for ever', 'pages/x@^0', /more than 1000 pages/],
    ['a manifest that redirects to itself', 'redirect/x:1.0.0', /more than 5 redirects/],
    ['a manifest dripped one byte every 500 ms', 'drip/x:1.0.0', /not received within 20 s/],
    ['a layer dripped one byte a second', 'dripblob/x:1.0.0', /stalled/],
    ['a layer longer than its descriptor', 'badsize/x:1.0.0', /size mismatch/],
    ['a layer whose bytes are not its digest', 'baddigest/x:1.0.0', /digest mismatch/],
    ['429 with Retry-After: 3600', 'ratelimit/x:1.0.0', /asks to wait 60 min \(Retry-After\)/],
  ]
  const outcomes = new Map<string, Promise<Outcome>>()
  // The cases run four at a time (most of their time is waiting on the registry).
  const start = (ref: string): Promise<Outcome> => {
    let p = outcomes.get(ref)
    if (!p) {
      const running = [...outcomes.values()]
      const wait = running.length >= 4 ? Promise.race(running.slice(-4).map((r) => r.catch(() => undefined))) : Promise.resolve()
      p = wait.then(() => pullMeasured(`${hostile.host}/${ref}`, env))
      outcomes.set(ref, p)
    }
    return p
  }

  for (const [title, ref, message] of cases) {
    it(title, async () => {
      const r = await start(ref)
      const full = `${hostile.host}/${ref}`
      assert.equal(r.code, 1, r.lines.join('\n'))
      assert.equal(r.lines.length, 1, r.lines.join('\n'))
      assert.ok(r.lines[0]!.startsWith('kit: '), r.lines[0])
      assert.ok(r.lines[0]!.includes(full.replace(/[@:][^/]*$/, '')), `${r.lines[0]} names no ${full}`)
      assert.match(r.lines[0]!, message)
      assert.ok(r.maxRssKiB < 200 * 1024, `max RSS ${r.maxRssKiB} KiB`)
    })
  }

  it('leaves no reference and no temp file in the store', async () => {
    await Promise.all(outcomes.values())
    assert.deepEqual(await checkStore(join(dir, 'home', 'store')).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? [] : [e.message])), [])
    assert.ok((hostile.requests.get('loop') ?? 0) < 10, `loop: ${hostile.requests.get('loop')} requests`)
  })
})
