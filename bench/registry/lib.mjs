// In-process timing of registry-client (no CLI start-up): push STORE REF DEST | pull REF STOREDIR.
// Prints seconds. Used by run.sh to separate transfer time from the CLI's start-up.
import {OciLayoutStore, pull, push} from '../../dist/registry-client/index.js'

const [mode, a, b, c] = process.argv.slice(2)
const started = process.hrtime.bigint()
if (mode === 'push') await push(await OciLayoutStore.open(a), b, c, {plainHttp: true})
else if (mode === 'pull') await pull(a, await OciLayoutStore.open(b), {plainHttp: true})
else throw new Error('usage: lib.mjs push STORE REF DEST | pull REF STOREDIR')
console.log((Number(process.hrtime.bigint() - started) / 1e9).toFixed(3))
