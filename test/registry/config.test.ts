import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  ALLOWED_SOURCES,
  defineSetting,
  getSetting,
  getSettingValue,
  listSettings,
  parseBoolean,
  setSetting,
  unsetSetting,
  validateBoolean,
} from '../../runtime/config.js'

describe('runtime/config: settings file', () => {
  let dir: string
  let env: NodeJS.ProcessEnv
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-config-'))
    env = {KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json')}
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('sets, gets, lists and unsets kit.allowedSources', async () => {
    assert.deepEqual(await getSetting(ALLOWED_SOURCES.key, env), [])
    assert.deepEqual(await setSetting('kit.allowedSources', 'a.example/team, b.example', env), ['a.example/team', 'b.example'])
    assert.deepEqual(await setSetting('kit.allowedSources', '["c.example/x"]', env), ['c.example/x'])
    assert.deepEqual(await getSettingValue('kit.allowedSources', env), {
      key: 'kit.allowedSources',
      value: ['c.example/x'],
      source: 'user',
      description: ALLOWED_SOURCES.description,
    })
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'home', 'config.json'), 'utf8')), {'kit.allowedSources': ['c.example/x']})
    assert.ok((await listSettings(env)).some((s) => s.key === 'kit.allowedSources'))
    assert.equal(await unsetSetting('kit.allowedSources', env), true)
    assert.deepEqual(await getSetting(ALLOWED_SOURCES.key, env), [])
  })

  it('refuses unknown keys and bad values, naming the key', async () => {
    await assert.rejects(setSetting('kit.nope', 'x', env), {code: 'UNKNOWN_SETTING', message: /unknown setting "kit\.nope" \(known: .*kit\.allowedSources/})
    await assert.rejects(setSetting('kit.allowedSources', '[1, 2]', env), {code: 'INVALID_SETTING', message: /kit\.allowedSources: expected a list of strings/})
    await writeFile(join(dir, 'org.json'), '{"kit.allowedSources": "not a list"}')
    await assert.rejects(getSetting('kit.allowedSources', env), {code: 'INVALID_CONFIG', message: /org\.json: kit\.allowedSources: expected a list/})
  })

  it('lets an organisation file pin a setting', async () => {
    await writeFile(join(dir, 'org.json'), JSON.stringify({'kit.allowedSources': ['corp.example/approved']}))
    assert.deepEqual(await getSettingValue('kit.allowedSources', env).then((v) => [v.value, v.source]), [['corp.example/approved'], 'org'])
    await assert.rejects(setSetting('kit.allowedSources', 'evil.example', env), {code: 'SETTING_LOCKED'})
  })

  it('accepts settings other areas declare', async () => {
    defineSetting({key: 'test.flag', description: 'a test flag', parse: parseBoolean, validate: validateBoolean, default: false})
    assert.equal(await setSetting('test.flag', 'true', env), true)
    assert.equal(await getSetting('test.flag', env), true)
  })
})
